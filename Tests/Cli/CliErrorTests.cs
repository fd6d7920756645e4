using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Cli;

/// <summary>
/// Bad input gives one line naming the file or argument and what is wrong, and a non-zero exit code;
/// a stack trace only with --verbose.
/// </summary>
public sealed class CliErrorTests
{
    private string _dir = null!;

    [SetUp]
    public void Scratch() => _dir = Fixtures.NewScratchFolder();

    [TearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    private string Folder(params (string Identity, string File, byte[] Bytes)[] files)
    {
        var root = Path.Combine(_dir, "faces");
        Directory.CreateDirectory(root);
        foreach (var (identity, file, bytes) in files)
        {
            Directory.CreateDirectory(Path.Combine(root, identity));
            File.WriteAllBytes(Path.Combine(root, identity, file), bytes);
        }
        return root;
    }

    /// <summary>`train` into the scratch folder, not the default runs/latest of wherever the tests run.</summary>
    private CliRunner.Result Train(params string[] args) => CliRunner.Run(["train", .. args, "--out", Path.Combine(_dir, "run")]);

    private static byte[] Pgm(int maxval = 255, int side = 4)
    {
        var header = Encoding.ASCII.GetBytes($"P5\n{side} {side}\n{maxval}\n");
        int bytesPerSample = maxval > 255 ? 2 : 1;
        return header.Concat(Enumerable.Repeat((byte)1, side * side * bytesPerSample)).ToArray();
    }

    [Test]
    public void MissingFolder()
    {
        var missing = Path.Combine(_dir, "nowhere");
        CliRunner.AssertOneLineError(Train("--data", missing, "--epochs", "1"), missing, "does not exist");
    }

    [Test]
    public void UnknownRecipeIsNamedWithItsOption() =>
        CliRunner.AssertOneLineError(Train("--recipe", "fast", "--epochs", "1"), "--recipe: unknown recipe 'fast'", "seed, improved");

    [Test]
    public void StackTraceOnlyWithVerbose()
    {
        var missing = Path.Combine(_dir, "nowhere");
        var r = Train("--data", missing, "--verbose");
        Assert.That(r.ExitCode, Is.Not.Zero);
        Assert.That(r.Error, Does.Contain(" at "), "--verbose prints the stack trace");
    }

    [Test]
    public void EmptyFolder()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "empty"));
        CliRunner.AssertOneLineError(Train("--data", Path.Combine(_dir, "empty")), "empty", "no identity sub-folders");
    }

    [Test]
    public void FewerThanTwoIdentities()
    {
        var root = Folder(("alice", "1.pgm", Pgm()), ("alice", "2.pgm", Pgm()));
        CliRunner.AssertOneLineError(Train("--data", root), "one identity", "alice");
    }

    [Test]
    public void TruncatedImage()
    {
        var root = Folder(("alice", "1.pgm", Pgm()), ("bob", "1.pgm", Pgm()[..^5]));
        CliRunner.AssertOneLineError(Train("--data", root), "1.pgm");
    }

    [Test]
    public void NonImageFileWithImageExtension()
    {
        var root = Folder(("alice", "1.pgm", Pgm()), ("bob", "1.png", Encoding.ASCII.GetBytes("this is not a picture")));
        CliRunner.AssertOneLineError(Train("--data", root), "1.png");
    }

    [Test]
    public void UnsupportedMaxval()
    {
        var bytes = Encoding.ASCII.GetBytes("P5\n2 2\n70000\n").Concat(new byte[8]).ToArray();
        var root = Folder(("alice", "1.pgm", Pgm()), ("bob", "1.pgm", bytes));
        CliRunner.AssertOneLineError(Train("--data", root), "70000", "1.pgm");
    }

    [Test]
    public void CheckpointWithWrongShapes()
    {
        // as many values as the architecture needs, one tensor in the wrong shape
        var model = Path.Combine(_dir, "bad.safetensors");
        using (var backend = new SimilarFaces.Engine.Backends.Cpu.CpuBackend())
        using (var network = new SiameseNetwork(backend, new SiameseArchitecture { ImageSize = 8, Channels = [2], Hidden = [4], EmbeddingSize = 2 }, new SimilarFaces.Engine.SeededRandom(0)))
            Checkpoint.Save(model, network);
        var contents = SafeTensors.Read(model);
        var tensors = contents.Tensors.Values.Select(t => t.Name == "conv_layers.1.weight" ? t with { Shape = [2, 9] } : t);
        SafeTensors.Write(model, tensors, contents.Metadata);
        var image = Path.Combine(_dir, "a.pgm");
        File.WriteAllBytes(image, Pgm());
        CliRunner.AssertOneLineError(CliRunner.Run("compare", "--model", model, image, image, "--threshold", "1", "--device", "cpu"),
            "bad.safetensors", "conv_layers.1.weight", "(2,9)");
    }

    [Test]
    public void CheckpointWithTruncatedHeader()
    {
        var model = Path.Combine(_dir, "truncated.safetensors");
        var bytes = new byte[20];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 5000);
        File.WriteAllBytes(model, bytes);
        var image = Path.Combine(_dir, "a.pgm");
        File.WriteAllBytes(image, Pgm());
        CliRunner.AssertOneLineError(CliRunner.Run("compare", "--model", model, image, image, "--threshold", "1", "--device", "cpu"),
            "truncated.safetensors", "header length 5000");
    }

    [Test]
    public void UnknownDevice()
    {
        CliRunner.AssertOneLineError(CliRunner.Run("train", "--device", "cuda:7", "--epochs", "1", "--out", _dir), "cuda:7", "available devices", "cpu");
    }

    [Test]
    public void CheckpointIntervalWithoutUnit()
    {
        CliRunner.AssertOneLineError(CliRunner.Run("train", "--checkpoint-every", "5", "--epochs", "1", "--device", "cpu", "--out", _dir),
            "--checkpoint-every", "'5'", "10epochs");
    }

    [TestCase("model.safetensors")]
    [TestCase("training-state.safetensors")]
    [TestCase("best.safetensors")]
    [TestCase("loss.csv")]
    public void TrainIntoAFolderHoldingARunIsRefused(string file)
    {
        var earlier = Path.Combine(_dir, file);
        File.WriteAllText(earlier, "an earlier run");
        CliRunner.AssertOneLineError(CliRunner.Run("train", "--epochs", "1", "--device", "cpu", "--out", _dir), "--out", earlier, "--resume", "--overwrite");
        Assert.That(File.ReadAllText(earlier), Is.EqualTo("an earlier run"));
    }

    [Test]
    public void ResumeWithOverwriteIsRefused()
    {
        CliRunner.AssertOneLineError(CliRunner.Run("train", "--resume", "--overwrite", "--out", _dir), "--resume", "--overwrite");
    }

    /// <summary>FILE is an existing file, DIR an existing folder: an output under a file, or of the wrong kind.</summary>
    [TestCase("--out", "train", "--epochs", "1", "--out", "FILE")]
    [TestCase("--out", "train", "--epochs", "1", "--out", "FILE/run")]
    [TestCase("--out", "crossval", "--epochs", "1", "--folds", "2", "--out", "FILE/cv")]
    [TestCase("--json", "crossval", "--epochs", "1", "--folds", "2", "--out", "DIR/cv", "--json", "FILE/cv.json")]
    [TestCase("--json", "eval", "--model", "DIR/m.safetensors", "--data", "DIR", "--json", "FILE/eval.json")]
    [TestCase("--json", "eval", "--model", "DIR/m.safetensors", "--data", "DIR", "--json", "DIR")]
    [TestCase("--out", "eval", "--model", "DIR/m.safetensors", "--data", "DIR", "--out", "FILE/pictures")]
    [TestCase("--save-threshold", "eval", "--model", "FILE/m.safetensors", "--data", "DIR", "--save-threshold")]
    [TestCase("--out", "embed", "--model", "DIR/m.safetensors", "--data", "DIR", "--out", "FILE/e.csv")]
    [TestCase("--out", "embed", "--model", "DIR/m.safetensors", "--data", "DIR", "--out", "DIR")]
    public void UnwritableOutputIsRefusedBeforeAnyWork(string option, params string[] args)
    {
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "");
        var r = CliRunner.Run([.. args.Select(a => a.Replace("FILE", file).Replace("DIR", _dir)), "--device", "cpu"]);
        CliRunner.AssertOneLineError(r, option + ": ", args.Any(a => a.Contains("FILE")) ? file : _dir);
        Assert.That(r.ExitCode, Is.EqualTo(2), "a usage error");
        Assert.That(r.Output, Is.Empty, "refused before any data, model or training");
        Assert.That(Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName), Is.EqualTo(new[] { "a-file" }), "nothing created");
    }

    [TestCase("train", "--epochs", "1", "--out", "/proc/similar-faces-run")]
    [TestCase("embed", "--model", "m.safetensors", "--data", ".", "--out", "/proc/similar-faces.csv")]
    public void OutputWhereNoFileCanBeCreatedIsRefused(params string[] args)
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("/proc takes no new files on Linux");
        var r = CliRunner.Run([.. args, "--device", "cpu"]);
        CliRunner.AssertOneLineError(r, "--out: ", args[^1], "no file can be created in /proc");
        Assert.That(r.Output, Is.Empty, "refused before any data, model or training");
    }

    [Test]
    public void MissingModel()
    {
        var image = Path.Combine(_dir, "a.pgm");
        File.WriteAllBytes(image, Pgm());
        CliRunner.AssertOneLineError(CliRunner.Run("compare", "--model", Path.Combine(_dir, "none.safetensors"), image, image), "--model", "none.safetensors");
    }
}
