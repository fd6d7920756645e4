using NUnit.Framework;
using SimilarFaces.Engine.IO;

namespace SimilarFaces.Tests.IO;

/// <summary>
/// Files written together (a model and its optimizer state): wherever a crash stops the write, the folder holds the
/// old files or, after <see cref="Atomic.Recover"/>, the new ones — never one of each.
/// </summary>
public sealed class AtomicTests
{
    private string _dir = null!;

    [SetUp]
    public void Scratch()
    {
        _dir = Fixtures.NewScratchFolder();
        File.WriteAllText(Path.Combine(_dir, "a"), "old a");
        File.WriteAllText(Path.Combine(_dir, "b"), "old b");
    }

    [TearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    private static (string, Action<Stream>) Text(string name, string text) => (name, s => s.Write(System.Text.Encoding.UTF8.GetBytes(text)));

    private (string A, string B) Contents() => (File.ReadAllText(Path.Combine(_dir, "a")), File.ReadAllText(Path.Combine(_dir, "b")));

    [Test]
    public void WriteTogetherReplacesEveryFileAndLeavesNothingElse()
    {
        Atomic.WriteTogether(_dir, [Text("a", "new a"), Text("b", "new b")]);
        Assert.That(Contents(), Is.EqualTo(("new a", "new b")));
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "a", "b" }));
    }

    [Test]
    public void AFailedWriteLeavesTheOldFiles()
    {
        Assert.Throws<IOException>(() => Atomic.WriteTogether(_dir, [Text("a", "new a"), ("b", _ => throw new IOException("disk full"))]));
        Assert.That(Contents(), Is.EqualTo(("old a", "old b")));
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "a", "b" }));
    }

    [Test]
    public void StoppedAfterTheCommitTheOldFilesStandUntilRecovered()
    {
        Atomic.Commit(_dir, [Text("a", "new a"), Text("b", "new b")]);
        Assert.That(Contents(), Is.EqualTo(("old a", "old b")), "before any rename");
        Atomic.Recover(_dir);
        Assert.That(Contents(), Is.EqualTo(("new a", "new b")));
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "a", "b" }));
    }

    [Test]
    public void StoppedBetweenTheRenamesRecoverFinishesThem()
    {
        Atomic.Commit(_dir, [Text("a", "new a"), Text("b", "new b")]);
        // the first rename of the journal done, the second not: the state a kill between them leaves
        var first = File.ReadLines(Path.Combine(_dir, Atomic.JournalFile)).First().Split('\t');
        File.Move(Path.Combine(_dir, first[0]), Path.Combine(_dir, first[1]), overwrite: true);
        Assert.That(Contents(), Is.EqualTo(("new a", "old b")));
        Atomic.Recover(_dir);
        Assert.That(Contents(), Is.EqualTo(("new a", "new b")));
        Atomic.Recover(_dir);
        Assert.That(Contents(), Is.EqualTo(("new a", "new b")), "recovering again changes nothing");
    }

    [Test]
    public void RecoverRemovesTheTemporaryFilesOfAStoppedWrite()
    {
        File.WriteAllText(Path.Combine(_dir, ".a.4242.tmp"), "half of a");
        Atomic.Recover(_dir);
        Assert.That(Contents(), Is.EqualTo(("old a", "old b")));
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "a", "b" }));
    }
}
