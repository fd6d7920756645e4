using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using SimilarFaces.Tests.Data;

namespace SimilarFaces.Tests.Fuzz;

/// <summary>
/// Seeded mutation fuzzing of every reader a user's file reaches: each case is a valid file with a few
/// <see cref="Mutator"/> edits, and must end in success or in the reader's InvalidDataException naming the file,
/// within <see cref="CaseBudget"/> and <see cref="AllocationBudget"/> of managed allocations. 2,000 cases per reader
/// here; tools/fuzz/run.sh sets SIMILARFACES_FUZZ_CASES for long runs. A failing case is written to the test's
/// work folder and named with its seed, so it reproduces.
/// </summary>
public sealed class FuzzTests
{
    private static readonly TimeSpan CaseBudget = TimeSpan.FromSeconds(2);
    private const long AllocationBudget = 512L << 20;

    private static int Cases =>
        int.TryParse(Environment.GetEnvironmentVariable("SIMILARFACES_FUZZ_CASES"), out var n) && n > 0 ? n : 2000;

    private static byte[] Image(string name) => File.ReadAllBytes(Path.Combine(Fixtures.Directory, "images", name));

    public static IEnumerable<TestCaseData> ImageFormats() =>
    [
        new TestCaseData("pgm", new[] { Image("p2_maxval6.pgm"), Image("p5_maxval100.pgm") }),
        new TestCaseData("ppm", new[] { Image("p3_maxval1000.ppm"), Image("p6_maxval65535.ppm") }),
        new TestCaseData("png", new[] { Image("synthetic_rgb.png"), Image("synthetic_rgba.png"), Image("synthetic_palette.png") }),
        new TestCaseData("jpg", new[] { Image("synthetic_rgb.jpg") }),
        new TestCaseData("bmp", new[] { Image("synthetic_rgb.bmp") }),
        new TestCaseData("tga", TgaFiles.Examples().Select(e => e.File).ToArray()),
    ];

    [TestCaseSource(nameof(ImageFormats))]
    public void ImageDecoder(string extension, byte[][] seeds) =>
        Run(extension, (mutator, name) =>
        {
            var data = mutator.Bytes(seeds[mutator.Next(seeds.Length)]);
            if (extension == "png" && mutator.Next(2) == 0) RecomputePngCrcs(data);
            return () => ImageLoader.Decode(data, name);
        }, data: null);

    /// <summary>libpng refuses a chunk whose CRC does not match, so half the PNG cases get their CRCs recomputed:
    /// the edits then reach the chunk parsers and the decompressor instead of stopping at the first checksum.</summary>
    internal static void RecomputePngCrcs(byte[] data)
    {
        for (long at = 8; at + 12 <= data.Length;)
        {
            long length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan((int)at));
            if (at + 12 + length > data.Length) return;
            uint crc = Crc32(data.AsSpan((int)at + 4, (int)length + 4));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan((int)(at + 8 + length)), crc);
            at += 12 + length;
        }
    }

    // the CRC PNG uses (ISO 3309, reflected polynomial 0xEDB88320), bit by bit
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320 & (0 - (crc & 1)));
        }
        return ~crc;
    }

    [Test]
    public void SafeTensorsReader()
    {
        var folder = Fixtures.NewScratchFolder();
        var path = Path.Combine(folder, "seed.safetensors");
        SafeTensors.Write(path, [SafeTensor.F32("w", [2, 3], [1, 2, 3, 4, 5, 6]), SafeTensor.I64("n", [], [7]), SafeTensor.F32("e", [0], [])],
            new Dictionary<string, string> { ["note"] = "x" });
        var seed = File.ReadAllBytes(path);
        Directory.Delete(folder, recursive: true);
        Run("safetensors", (mutator, name) =>
        {
            var data = mutator.Bytes(seed);
            return () => SafeTensors.Read(new MemoryStream(data), name);
        }, data: null);
    }

    [Test]
    public void CheckpointMetadata()
    {
        var folder = Fixtures.NewScratchFolder();
        using var backend = new CpuBackend();
        var path = Path.Combine(folder, "seed.safetensors");
        using (var network = new SiameseNetwork(backend, new SiameseArchitecture { ImageSize = 8, Channels = [2, 3], MaxPool = true, Hidden = [4], EmbeddingSize = 2 }, new SeededRandom(0)))
            Checkpoint.Save(path, network);
        var seed = SafeTensors.Read(path);
        try
        {
            Run("checkpoint", (mutator, name) =>
            {
                var metadata = new Dictionary<string, string>(seed.Metadata);
                metadata[Checkpoint.ArchitectureKey] = mutator.Text(metadata[Checkpoint.ArchitectureKey]);
                var file = Path.Combine(folder, name);
                SafeTensors.Write(file, seed.Tensors.Values, metadata);
                return () =>
                {
                    Checkpoint.Load(file, backend).Model.Dispose();
                    File.Delete(file);
                };
            }, data: folder);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void ImageFolderWalker()
    {
        var folder = Fixtures.NewScratchFolder();
        var images = new[] { Image("p5_maxval100.pgm"), Image("synthetic_palette.png"), Image("synthetic_rgb.bmp") };
        string[] extensions = [".pgm", ".PGM", ".png", ".bmp", ".txt", "", ".tga"];
        try
        {
            Run("folder", (mutator, name) =>
            {
                var root = Path.Combine(folder, name);
                Directory.CreateDirectory(root);
                int identities = mutator.Next(4);
                for (int i = 0; i < identities; i++)
                {
                    var identity = Path.Combine(root, mutator.Name());
                    if (mutator.Next(2) == 0) identity = Path.Combine(identity, mutator.Name()); // nested
                    Directory.CreateDirectory(identity);
                    int files = mutator.Next(4);
                    for (int f = 0; f < files; f++)
                    {
                        var image = images[mutator.Next(images.Length)];
                        var bytes = mutator.Next(3) == 0 ? mutator.Bytes(image) : image;
                        File.WriteAllBytes(Path.Combine(identity, mutator.Name() + extensions[mutator.Next(extensions.Length)]), bytes);
                    }
                }
                return () =>
                {
                    try { _ = new ImageFolder(root, 8, 8); }
                    finally { Directory.Delete(root, recursive: true); }
                };
            }, data: folder);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Runs <see cref="Cases"/> cases of one reader; <paramref name="makeCase"/> builds case i's input from its
    /// mutator and returns the read to time. A case's name (`case-i.kind`) must appear in any error it gives. A case
    /// over the time budget is run once more (a busy machine can stall any thread) and fails if it is slow again.</summary>
    private static void Run(string kind, Func<Mutator, string, Action> makeCase, string? data)
    {
        ulong seed = (ulong)kind.Aggregate(17, (h, c) => h * 31 + c);
        int succeeded = 0, refused = 0;
        var slowest = TimeSpan.Zero;
        long mostAllocated = 0;
        for (int i = 0; i < Cases; i++)
        {
            ulong caseSeed = seed * 1_000_003 + (ulong)i;
            string Case() => $"{kind} case {i} (Mutator seed {caseSeed}{(data is null ? "" : $", files under {data}")})";
            var name = $"case-{i}.{kind}";
            var outcome = Attempt(makeCase(new Mutator(caseSeed), name));
            if (outcome is null)
            {
                name = $"case-{i}-again.{kind}";
                outcome = Attempt(makeCase(new Mutator(caseSeed), name));
            }
            if (outcome is not { } answered)
            {
                Assert.Fail($"{Case()}: no answer within {CaseBudget.TotalSeconds} s, twice");
                return;
            }
            var (error, allocated, elapsed) = answered;
            slowest = elapsed > slowest ? elapsed : slowest;
            mostAllocated = Math.Max(mostAllocated, allocated);
            Assert.That(allocated, Is.LessThan(AllocationBudget), $"{Case()}: allocated {allocated:N0} bytes");
            switch (error)
            {
                case null:
                    succeeded++;
                    break;
                case InvalidDataException when error.Message.Contains(name):
                    refused++;
                    break;
                default:
                    Assert.Fail($"{Case()}: {error.GetType().Name} '{error.Message}' (expected success or an InvalidDataException naming {name})\n{error.StackTrace}");
                    break;
            }
        }
        TestContext.Out.WriteLine($"{kind}: {Cases} cases, {succeeded} read, {refused} refused; slowest {slowest.TotalMilliseconds:F0} ms, most allocated {mostAllocated / 1e6:F1} MB");
    }

    /// <summary>One read on its own thread: what it threw, the bytes it allocated and its time, or null past the budget.</summary>
    private static (Exception? Error, long Allocated, TimeSpan Elapsed)? Attempt(Action read)
    {
        Exception? error = null;
        long allocated = 0;
        var watch = Stopwatch.StartNew();
        var task = Task.Run(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { read(); }
            catch (Exception e) { error = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        });
        return task.Wait(CaseBudget) ? (error, allocated, watch.Elapsed) : null;
    }
}
