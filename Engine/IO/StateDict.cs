using SimilarFaces.Engine.Nn;

namespace SimilarFaces.Engine.IO;

/// <summary>
/// A module's state under PyTorch's state_dict names: parameters and buffers as F32, counters
/// (num_batches_tracked) as I64 of shape [].
/// </summary>
public static class StateDict
{
    /// <summary>A module's parameters, buffers and counters, sorted by name, ready for <see cref="SafeTensors"/> to write.</summary>
    public static IEnumerable<SafeTensor> Of(Module module)
    {
        var entries = new List<(string Name, SafeTensor Tensor)>();
        foreach (var (name, t) in module.NamedParameters().Concat(module.NamedBuffers()))
            entries.Add((name, SafeTensor.Of(name, t)));
        foreach (var (name, value) in module.NamedCounters())
            entries.Add((name, SafeTensor.I64(name, [], [value])));
        return entries.OrderBy(e => e.Name, StringComparer.Ordinal).Select(e => e.Tensor);
    }

    /// <summary>
    /// Loads every parameter, buffer and counter of the module from a file's contents. Missing tensors,
    /// unexpected tensors, wrong dtypes or wrong shapes are errors naming the file and the tensor.
    /// </summary>
    public static void Load(Module module, SafeTensors.Contents contents, string file, string prefix = "")
    {
        var expected = new HashSet<string>();
        foreach (var (name, t) in module.NamedParameters().Concat(module.NamedBuffers()))
        {
            var key = prefix + name;
            expected.Add(key);
            var stored = contents.Get(key, file);
            if (stored.DType != "F32") throw new InvalidDataException($"{file}: tensor '{key}' is {stored.DType}, expected F32");
            if (!stored.Shape.AsSpan().SequenceEqual(t.Shape))
                throw new InvalidDataException($"{file}: tensor '{key}' has shape ({string.Join(",", stored.Shape)}), the model needs {t.ShapeText}");
            stored.CopyTo(t);
        }
        foreach (var (name, _) in module.NamedCounters().ToList())
        {
            var key = prefix + name;
            expected.Add(key);
            var stored = contents.Get(key, file);
            if (stored.DType != "I64" || stored.Count != 1)
                throw new InvalidDataException($"{file}: tensor '{key}' must be a single I64, got {stored.DType} of shape ({string.Join(",", stored.Shape)})");
            module.SetCounter(name, stored.Longs![0]);
        }
        var unexpected = contents.Tensors.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && !expected.Contains(k)).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{file}: tensors the model does not have: {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", ..." : "")}");
    }
}
