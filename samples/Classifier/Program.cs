using System.Diagnostics;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.IO;
using SimilarFaces.Engine.Nn;
using SimilarFaces.Engine.Optim;

// A small CNN learns to tell four kinds of 16×16 grayscale pictures apart (a horizontal bar, a vertical bar,
// a diagonal, a box) that this program draws itself, at random places, in random ink, under noise. It trains
// with Adam, measures its accuracy on pictures it never saw, saves the weights as safetensors, loads them into
// a fresh network and checks that both predict the same. Engine/README.md shows the parts between the
// <region> comments.
//
//   dotnet run -c Release --project samples/Classifier [-- --device NAME] [--out DIR]
//
// Exit codes: 0 done, 1 below the required accuracy or a reload that predicts differently, 2 bad arguments.

const int Size = 16, Pixels = Size * Size, Classes = 4;
const int TrainCount = 3000, TestCount = 1000, Epochs = 8, BatchSize = 50;
const double RequiredAccuracy = 0.95;
const ulong Seed = 20240611;
string[] classNames = ["horizontal bar", "vertical bar", "diagonal", "box"];

string deviceName = "cpu";
string? outFolder = null;
for (int a = 0; a < args.Length; a++)
{
    if (args[a] == "--device" && a + 1 < args.Length) deviceName = args[++a];
    else if (args[a] == "--out" && a + 1 < args.Length) outFolder = args[++a];
    else return Fail(2, $"unexpected argument '{args[a]}'; usage: SimilarFaces.Samples.Classifier [--device NAME] [--out DIR]");
}

bool deviceOpen = false;
try
{
    return Run();
}
catch (ArgumentException e) when (!deviceOpen)
{
    return Fail(2, e.Message); // Devices.Open says which devices this machine has
}

int Run()
{
    var clock = Stopwatch.StartNew();

    // <pick-device>
    // "cpu" (SIMD on all cores), "ilgpu-cpu" (ILGPU's CPU emulator), "cuda:0", "opencl:0", or "auto" (the first GPU,
    // else "cpu"). Devices.Available() lists this machine's devices; a name it cannot open throws ArgumentException.
    using var device = Devices.Open(deviceName);
    // </pick-device>
    deviceOpen = true;
    Console.WriteLine($"device: {deviceName}");

    var dataRng = new SeededRandom(Seed);
    var train = Draw(TrainCount, dataRng);
    var test = Draw(TestCount, dataRng);
    Console.WriteLine($"data: {TrainCount} training and {TestCount} test images of {Size}×{Size}, {Classes} classes ({string.Join(", ", classNames)})");

    // <define-network>
    // Images (N,1,16,16) → logits (N,Classes = 4). Each layer draws its initial weights from rng (PyTorch's init),
    // or starts at zero without one, for weights loaded next.
    Sequential NewNetwork(SeededRandom? rng) => new(
        new Conv2d(device, 1, 8, (3, 3), rng, padding: (1, 1)),   // → (N,8,16,16)
        new ReLU(),
        new MaxPool2d((2, 2)),                                      // → (N,8,8,8)
        new Conv2d(device, 8, 16, (3, 3), rng, padding: (1, 1)),  // → (N,16,8,8)
        new ReLU(),
        new MaxPool2d((2, 2)),                                      // → (N,16,4,4)
        new Flatten(),                                              // → (N,256)
        new Linear(device, 16 * 4 * 4, Classes, rng));              // → (N,4)

    using var network = NewNetwork(new SeededRandom(Seed));
    // </define-network>
    Console.WriteLine($"network: {network.ParameterCount} parameters");

    // <train>
    // train.Images holds TrainCount images of Size×Size floats one after another, train.Labels their classes 0..3.
    // Shuffled(n, rng) is 0..n−1 in a random order; Gather copies the images and labels at those indices into a batch.
    using var adam = new Adam(network.Parameters(), learningRate: 5e-3f);
    var shuffleRng = new SeededRandom(Seed + 1);
    for (int epoch = 1; epoch <= Epochs; epoch++)
    {
        int[] order = Shuffled(TrainCount, shuffleRng);
        double lossSum = 0;
        for (int start = 0; start < TrainCount; start += BatchSize)
        {
            var (pixels, labels) = Gather(train, order.AsSpan(start, BatchSize));
            using var scope = new TensorScope(); // disposes every tensor this step makes
            var images = Tensor.FromArray(device, pixels, BatchSize, 1, Size, Size);
            var loss = Ops.CrossEntropy(network.Forward(images), labels);
            adam.ZeroGrad();
            loss.Backward();
            adam.Step();
            lossSum += loss.Item();
        }
        Console.WriteLine($"epoch {epoch}/{Epochs}: mean loss {lossSum / (TrainCount / BatchSize):F4}");
    }
    // </train>

    // <predict>
    float[] Logits(Module model, float[] images)
    {
        using var noGrad = Tape.NoGrad();    // inference: record no graph
        using var scope = new TensorScope();
        var input = Tensor.FromArray(device, images, images.Length / (Size * Size), 1, Size, Size);
        return model.Forward(input).ToArray(); // (N,4) row-major
    }

    int[] predicted = ArgMax(Logits(network, test.Images)); // the class of highest logit in each row
    // </predict>
    int correct = predicted.Where((p, i) => p == test.Labels[i]).Count();
    double accuracy = (double)correct / TestCount;
    Console.WriteLine($"test accuracy: {100 * accuracy:F1}% ({correct} of {TestCount}; required at least {100 * RequiredAccuracy:F0}%)");

    string folder = outFolder ?? Path.Combine(Path.GetTempPath(), $"similarfaces-classifier-{Guid.NewGuid():N}");
    Directory.CreateDirectory(folder);
    try
    {
        // <save-load>
        string weightsFile = Path.Combine(folder, "classifier.safetensors");
        SafeTensors.Write(weightsFile, StateDict.Of(network)); // names as PyTorch's state_dict: "0.weight", "0.bias", ...

        using var reloaded = NewNetwork(rng: null); // no initial weights drawn: Load fills them all
        using (var file = SafeTensors.Open(weightsFile)) // read straight from the file into the tensors
            StateDict.Load(reloaded, file, weightsFile);
        // </save-load>

        float[] before = Logits(network, test.Images), after = Logits(reloaded, test.Images);
        int same = ArgMax(after).Where((p, i) => p == predicted[i]).Count();
        bool identical = before.AsSpan().SequenceEqual(after);
        Console.WriteLine($"saved {weightsFile}; reloaded into a fresh network: {same} of {TestCount} predictions identical, " +
            (identical ? "logits bit-identical" : "logits DIFFER"));
        if (same != TestCount || !identical)
            return Fail(1, "the reloaded network does not predict what the trained one does");
    }
    finally
    {
        if (outFolder == null) Directory.Delete(folder, recursive: true);
    }

    Console.WriteLine($"time: {clock.Elapsed.TotalSeconds:F1} s");
    if (accuracy < RequiredAccuracy)
        return Fail(1, $"test accuracy {100 * accuracy:F1}% is below the required {100 * RequiredAccuracy:F0}%");
    return 0;
}

static int Fail(int code, string message)
{
    Console.Error.WriteLine($"error: {message}");
    return code;
}

// Draws count images with random labels: one shape of a random size, place and ink (0.6–1) on black, plus Gaussian
// noise of standard deviation 0.3 on every pixel.
static (float[] Images, int[] Labels) Draw(int count, SeededRandom rng)
{
    var images = new float[count * Pixels];
    var labels = new int[count];
    for (int n = 0; n < count; n++)
    {
        var image = images.AsSpan(n * Pixels, Pixels);
        int label = labels[n] = rng.NextInt(Classes);
        float ink = (float)rng.NextDouble(0.6, 1.0);
        int length = 6 + rng.NextInt(6); // 6–11 pixels: bars, diagonals and box sides
        int fixedAt = rng.NextInt(Size), from = rng.NextInt(Size - length + 1), from2 = rng.NextInt(Size - length + 1);
        switch (label)
        {
            case 0: // horizontal bar in row fixedAt
                for (int k = 0; k < length; k++) image[fixedAt * Size + from + k] = ink;
                break;
            case 1: // vertical bar in column fixedAt
                for (int k = 0; k < length; k++) image[(from + k) * Size + fixedAt] = ink;
                break;
            case 2: // diagonal, down to the right or down to the left
                bool right = rng.NextInt(2) == 0;
                for (int k = 0; k < length; k++) image[(from + k) * Size + (right ? from2 + k : from2 + length - 1 - k)] = ink;
                break;
            default: // box outline with top-left corner (from, from2)
                for (int k = 0; k < length; k++)
                {
                    image[from * Size + from2 + k] = image[(from + length - 1) * Size + from2 + k] = ink;
                    image[(from + k) * Size + from2] = image[(from + k) * Size + from2 + length - 1] = ink;
                }
                break;
        }
        for (int p = 0; p < Pixels; p++) image[p] += (float)(0.3 * rng.NextGaussian());
    }
    return (images, labels);
}

// 0..count−1 in a random order (Fisher–Yates).
static int[] Shuffled(int count, SeededRandom rng)
{
    var order = Enumerable.Range(0, count).ToArray();
    for (int i = count - 1; i > 0; i--)
    {
        int j = rng.NextInt(i + 1);
        (order[i], order[j]) = (order[j], order[i]);
    }
    return order;
}

// The images and labels at the given indices, as one batch.
static (float[] Images, int[] Labels) Gather((float[] Images, int[] Labels) data, ReadOnlySpan<int> indices)
{
    var images = new float[indices.Length * Pixels];
    var labels = new int[indices.Length];
    for (int j = 0; j < indices.Length; j++)
    {
        data.Images.AsSpan(indices[j] * Pixels, Pixels).CopyTo(images.AsSpan(j * Pixels));
        labels[j] = data.Labels[indices[j]];
    }
    return (images, labels);
}

// The class of highest logit in each row of (N,Classes) logits.
static int[] ArgMax(float[] logits)
{
    var classes = new int[logits.Length / Classes];
    for (int i = 0; i < classes.Length; i++)
    {
        var row = logits.AsSpan(i * Classes, Classes);
        for (int k = 1; k < Classes; k++)
            if (row[k] > row[classes[i]]) classes[i] = k;
    }
    return classes;
}
