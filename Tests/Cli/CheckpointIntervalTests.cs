using NUnit.Framework;
using SimilarFaces.Cli;

namespace SimilarFaces.Tests.Cli;

/// <summary>`--checkpoint-every`: a time or a number of epochs, and when each says a checkpoint is due.</summary>
public sealed class CheckpointIntervalTests
{
    [TestCase("90s", 90)]
    [TestCase("5m", 300)]
    [TestCase(" 2h ", 7200)]
    public void TimesParse(string text, int seconds) =>
        Assert.That(CheckpointInterval.Parse(text), Is.EqualTo(new CheckpointInterval(TimeSpan.FromSeconds(seconds), null)));

    [TestCase("10epochs", 10)]
    [TestCase("1epoch", 1)]
    public void EpochsParse(string text, int epochs) =>
        Assert.That(CheckpointInterval.Parse(text), Is.EqualTo(new CheckpointInterval(null, epochs)));

    [TestCase("")]
    [TestCase("5")]
    [TestCase("0m")]
    [TestCase("-1m")]
    [TestCase("5 minutes")]
    [TestCase("99999999999s")]
    public void NonsenseIsRefusedNamingTheOption(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => CheckpointInterval.Parse(text));
        Assert.That(e!.Message, Does.Contain("--checkpoint-every").And.Contain($"'{text}'"));
    }

    [Test]
    public void ATimeIsDueOnceItHasPassed()
    {
        var every = CheckpointInterval.Parse("5m");
        Assert.That(every.Due(epoch: 3, stepInEpoch: 2, TimeSpan.FromMinutes(4.9)), Is.False);
        Assert.That(every.Due(epoch: 3, stepInEpoch: 2, TimeSpan.FromMinutes(5)), Is.True, "mid-epoch too");
    }

    [Test]
    public void EpochsAreDueAtTheEndOfEveryNthEpoch()
    {
        var every = CheckpointInterval.Parse("3epochs");
        var due = Enumerable.Range(1, 9).Where(epoch => every.Due(epoch, 0, TimeSpan.Zero));
        Assert.That(due, Is.EqualTo(new[] { 3, 6, 9 }));
        Assert.That(every.Due(epoch: 3, stepInEpoch: 1, TimeSpan.FromHours(1)), Is.False, "not inside an epoch");
    }
}
