using System.Globalization;
using Google.Protobuf;
using Onnx;
using SimilarFaces.Engine;
using SimilarFaces.Engine.IO;
using SimilarFaces.Engine.Nn;

namespace SimilarFaces.Model;

/// <summary>
/// One tower of a <see cref="SiameseNetwork"/> as an ONNX graph with its trained weights: input <c>image</c>
/// (N,1,S,S) float in [0, 1], output <c>embedding</c> (N,E), computing what <see cref="Embedder.Embed"/> computes
/// with running statistics:
/// <code>
/// per conv block:  Pad(edge | reflect) → Conv(3×3, pads for zero padding) → Relu → BatchNormalization(running stats) → [MaxPool 2×2]
/// then:            Flatten → (Gemm(transB) → Relu)* → Gemm(transB) → [x / max(ReduceL2(x), 1e-12)]
/// mirror average:  the tower runs on Concat(image, image flipped along W) and the two halves are added, then
///                  scaled back to unit length (x / max(‖x‖, 1e-12)) or halved, as the architecture says
/// </code>
/// The pair distance stays outside the graph: d = ‖e₁ − e₂ + 1e-6‖₂, at or below the stored threshold = same person.
/// The architecture, the threshold and the recipe travel in the model's metadata_props.
/// </summary>
public static class OnnxExport
{
    public const int DefaultOpset = 17, MinOpset = 13, MaxOpset = 21;
    private const float NormEps = 1e-12f;

    /// <summary>Writes the graph atomically to <paramref name="path"/>; a null <paramref name="batch"/> leaves the batch axis dynamic.</summary>
    public static void Write(SiameseNetwork model, string path, int opset = DefaultOpset, int? batch = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (opset is < MinOpset or > MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(opset), opset, $"opset must be within {MinOpset}..{MaxOpset}");
        var graph = new GraphProto { Name = "similar_faces_embedding" };
        var builder = new Builder(graph, opset);
        int size = model.Architecture.ImageSize;
        var shape = new[] { batch is { } n ? new TensorShapeProto.Types.Dimension { DimValue = n } : new TensorShapeProto.Types.Dimension { DimParam = "batch" } };
        graph.Input.Add(Value("image", [.. shape, Fixed(1), Fixed(size), Fixed(size)]));
        graph.Output.Add(Value("embedding", [.. shape, Fixed(model.Architecture.EmbeddingSize)]));

        string images = "image";
        if (model.Architecture.FlipAverage)
        {
            // starts −1, ends −∞, step −1 along W: the image read right to left
            var mirrored = builder.Node("Slice", ["image", builder.Int64s("flip_starts", [-1]), builder.Int64s("flip_ends", [long.MinValue]),
                builder.Int64s("flip_axes", [3]), builder.Int64s("flip_steps", [-1])]);
            images = builder.Node("Concat", ["image", mirrored], Int("axis", 0));
        }
        var embeddings = Tower(model, builder, images);
        if (model.Architecture.FlipAverage)
        {
            var halves = builder.Node("Split", [embeddings], 2, opset >= 18 ? [Int("axis", 0), Int("num_outputs", 2)] : [Int("axis", 0)]);
            var sum = builder.Node("Add", [halves, halves + "_1"]);
            embeddings = model.Architecture.Normalize ? builder.UnitRows(sum) : builder.Node("Mul", [sum, builder.Floats("half", [], [0.5f])]);
        }
        builder.Rename(embeddings, "embedding");

        var proto = new ModelProto
        {
            IrVersion = opset switch { <= 14 => 7, <= 17 => 8, <= 20 => 9, _ => 10 },
            ProducerName = "similar-faces",
            Graph = graph,
            DocString = "Face embedding: image (N,1,S,S) in [0,1] → embedding (N,E). Same person when ‖e1 − e2 + 1e-6‖₂ ≤ threshold.",
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        var properties = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            [Checkpoint.ArchitectureKey] = model.Architecture.ToJson(),
        };
        foreach (var (key, value) in properties.OrderBy(p => p.Key, StringComparer.Ordinal))
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        Atomic.Write(path, stream => proto.WriteTo(stream));
    }

    private static string Tower(SiameseNetwork model, Builder builder, string x)
    {
        foreach (var (name, layer) in Named(model.ConvLayers, "conv_layers"))
            x = layer switch
            {
                ReplicationPad2d pad => builder.Node("Pad", [x, builder.Pads(name, pad.Padding)], Text("mode", "edge")),
                ReflectionPad2d pad => builder.Node("Pad", [x, builder.Pads(name, pad.Padding)], Text("mode", "reflect")),
                Conv2d conv => builder.Node("Conv", [x, builder.Weights($"{name}.weight", conv.Weight), builder.Weights($"{name}.bias", conv.Bias!)],
                    Ints("kernel_shape", conv.Weight.Shape[2], conv.Weight.Shape[3]), Ints("strides", conv.Stride.H, conv.Stride.W),
                    Ints("pads", conv.Padding.H, conv.Padding.W, conv.Padding.H, conv.Padding.W)),
                ReLU => builder.Node("Relu", [x]),
                BatchNorm norm => builder.Node("BatchNormalization",
                    [x, builder.Weights($"{name}.weight", norm.Weight), builder.Weights($"{name}.bias", norm.Bias),
                        builder.Weights($"{name}.running_mean", norm.RunningMean), builder.Weights($"{name}.running_var", norm.RunningVar)],
                    new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = norm.Eps }),
                MaxPool2d pool => builder.Node("MaxPool", [x], Ints("kernel_shape", pool.Kernel.H, pool.Kernel.W), Ints("strides", pool.Stride.H, pool.Stride.W)),
                _ => throw new NotSupportedException($"ONNX export: no ONNX form for {layer.GetType().Name} ({name})"),
            };
        x = builder.Node("Flatten", [x], Int("axis", 1));
        foreach (var (name, layer) in Named(model.FullyConnect, "fully_connect"))
            x = layer switch
            {
                Linear linear => builder.Node("Gemm", [x, builder.Weights($"{name}.weight", linear.Weight), builder.Weights($"{name}.bias", linear.Bias!)], Int("transB", 1)),
                ReLU => builder.Node("Relu", [x]),
                _ => throw new NotSupportedException($"ONNX export: no ONNX form for {layer.GetType().Name} ({name})"),
            };
        return model.Architecture.Normalize ? builder.UnitRows(x) : x;
    }

    private static IEnumerable<(string Name, Module Layer)> Named(Sequential sequential, string prefix) =>
        sequential.Layers.Select((layer, i) => ($"{prefix}.{i.ToString(CultureInfo.InvariantCulture)}", layer));

    private static TensorShapeProto.Types.Dimension Fixed(long value) => new() { DimValue = value };

    private static ValueInfoProto Value(string name, TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    private static AttributeProto Text(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>Nodes and initializers added to one graph, each node's output named after its op and a counter.</summary>
    private sealed class Builder(GraphProto graph, int opset)
    {
        private int _nodes;

        public string Node(string op, string[] inputs, params AttributeProto[] attributes) => Node(op, inputs, 1, attributes);

        public string Node(string op, string[] inputs, int outputs, params AttributeProto[] attributes)
        {
            var name = $"{op.ToLowerInvariant()}_{_nodes++}";
            var node = new NodeProto { OpType = op, Name = name };
            node.Input.AddRange(inputs);
            node.Output.Add(name);
            for (int i = 1; i < outputs; i++) node.Output.Add($"{name}_{i}");
            node.Attribute.AddRange(attributes);
            graph.Node.Add(node);
            return name;
        }

        /// <summary>Gives the last node's output the graph output's name.</summary>
        public void Rename(string output, string name)
        {
            var node = graph.Node.Last(n => n.Output.Contains(output));
            node.Output[node.Output.IndexOf(output)] = name;
        }

        public string Weights(string name, Tensor tensor) => Floats(name, tensor.Shape, tensor.ToArray());

        public string Floats(string name, int[] dims, float[] values)
        {
            var initializer = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            initializer.Dims.AddRange(dims.Select(d => (long)d));
            initializer.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
            graph.Initializer.Add(initializer);
            return name;
        }

        public string Int64s(string name, long[] values)
        {
            var initializer = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
            initializer.Dims.Add(values.Length);
            initializer.Int64Data.AddRange(values);
            graph.Initializer.Add(initializer);
            return name;
        }

        /// <summary>ONNX Pad's pads input: every axis's start, then every axis's end; only H and W are padded.</summary>
        public string Pads(string layer, int p) => Int64s($"{layer}.pads", [0, 0, p, p, 0, 0, p, p]);

        /// <summary>x / max(‖x‖₂ along rows, 1e-12), as F.normalize; ReduceL2 takes its axes as an input from opset 18.</summary>
        public string UnitRows(string x)
        {
            var norm = opset >= 18
                ? Node("ReduceL2", [x, Int64s($"axes_{_nodes}", [1])], Int("keepdims", 1))
                : Node("ReduceL2", [x], Ints("axes", 1), Int("keepdims", 1));
            var floor = Node("Max", [norm, Floats($"eps_{_nodes}", [], [NormEps])]);
            return Node("Div", [x, floor]);
        }
    }
}
