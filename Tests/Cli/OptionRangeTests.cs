using NUnit.Framework;

namespace SimilarFaces.Tests.Cli;

/// <summary>
/// Every numeric option of every command refuses NaN, ±∞, negatives, zero where it is out of range, absurdly large
/// values and words with one error line naming the option and the range it takes, exit code 2 (a usage error), before
/// the command does anything.
/// </summary>
public sealed class OptionRangeTests
{
    private const string Whole = "whole", Real = "real";

    /// <summary>Command line before the option, the option, its range as the error says it, the kind of number and the values out of it.</summary>
    private static readonly (string[] Command, string Option, string Range, string Kind, string[] Outside)[] Options =
    [
        (["train"], "--epochs", "a whole number from 1 to 1000000", Whole, ["0", "1000001"]),
        (["train"], "--batch", "a whole number from 2 to 4096", Whole, ["0", "1", "4097", "300000"]),
        (["train"], "--identities-per-batch", "a whole number from 2 to 1024", Whole, ["0", "1", "1025"]),
        (["train"], "--images-per-identity", "a whole number from 1 to 1024", Whole, ["0", "1025"]),
        (["train"], "--image-size", "a whole number from 4 to 1024", Whole, ["0", "3", "1025", "100000"]),
        (["train"], "--embedding-size", "a whole number from 1 to 4096", Whole, ["0", "4097"]),
        (["train"], "--val-every", "a whole number from 1 to 1000000", Whole, ["0", "1000001"]),
        (["train"], "--seed", "a whole number from 0 to 18446744073709551615", Whole, ["18446744073709551616"]),
        (["train"], "--lr", "a finite number > 0", Real, ["0", "1e39"]),
        (["train"], "--weight-decay", "a finite number ≥ 0", Real, ["1e39"]),
        (["train"], "--margin", "a finite number > 0", Real, ["0", "1e39"]),
        (["train"], "--scale", "a finite number > 0", Real, ["0", "1e39"]),
        (["train"], "--val-fraction", "a number > 0 and < 1", Real, ["0", "1", "1.5"]),
        (["crossval"], "--epochs", "a whole number from 1 to 1000000", Whole, ["0"]),
        (["crossval"], "--folds", "a whole number from 2 to 1000", Whole, ["0", "1", "1001"]),
        (["crossval"], "--val-every", "a whole number from 1 to 1000000", Whole, ["0"]),
        (["crossval"], "--val-fraction", "a number ≥ 0 and < 1", Real, ["1", "1.5", "1e309"]),
        (["crossval"], "--lr", "a finite number > 0", Real, ["0"]),
        (["compare", "--model", "m.safetensors", "a.pgm", "b.pgm"], "--threshold", "a finite number ≥ 0", Real, ["1e39"]),
    ];

    /// <summary>What no numeric option takes: not numbers, NaN, infinities, negatives, words; and for whole numbers, fractions and overflow.</summary>
    private static readonly Dictionary<string, string[]> NeverTaken = new()
    {
        [Whole] = ["NaN", "Infinity", "-Infinity", "-1", "2.5", "1e3", "99999999999999999999999", "abc", ""],
        [Real] = ["NaN", "Infinity", "-Infinity", "∞", "-1", "-0.5", "abc", "1,5", ""],
    };

    private static IEnumerable<TestCaseData> Cases() =>
        from o in Options
        from value in NeverTaken[o.Kind].Concat(o.Outside)
        select new TestCaseData(o.Command, o.Option, value, o.Range).SetName($"{o.Command[0]} {o.Option} '{value}'");

    [TestCaseSource(nameof(Cases))]
    public void OutOfRangeValueIsOneErrorNamingTheOptionAndTheRange(string[] command, string option, string value, string range)
    {
        var r = CliRunner.Run([.. command, option, value]);
        AssertUsageError(r, $"error: {option} must be {range}, got '{value}'");
    }

    /// <summary>Values each in range that together make a tensor larger than the engine indexes.</summary>
    [TestCase("--batch", "4096", "--image-size", "512")]
    [TestCase("--recipe", "improved", "--identities-per-batch", "1024", "--images-per-identity", "1024")]
    public void SizesTooLargeTogetherAreOneError(params string[] options)
    {
        var r = CliRunner.Run(["train", .. options]);
        AssertUsageError(r, "--batch/--identities-per-batch/--images-per-identity/--image-size/--channels/--embedding-size: a step's largest tensor would hold");
    }

    /// <summary>A network whose first dense layer alone would not fit one array, whatever the batch.</summary>
    [TestCase("--image-size", "1024")]
    [TestCase("--batch", "4096", "--image-size", "1024")]
    public void NetworkTooLargeIsOneError(params string[] options)
    {
        var r = CliRunner.Run(["train", .. options]);
        AssertUsageError(r, "--image-size/--channels/--embedding-size: the options: a dense layer of 8388608 × 500 weights is more than one array holds");
    }

    [TestCase("0epochs")]
    [TestCase("1000001epochs")]
    [TestCase("999999999h")]
    [TestCase("-5m")]
    [TestCase("NaNs")]
    [TestCase("1.5h")]
    public void CheckpointIntervalOutOfRangeIsOneError(string value)
    {
        var r = CliRunner.Run("train", "--checkpoint-every", value);
        AssertUsageError(r, $"error: --checkpoint-every: '{value}' is neither a time (5m, 90s, 1h) nor a number of epochs (10epochs), from 1 to 1000000");
    }

    [Test]
    public void TooManyConvolutionBlocksIsOneError()
    {
        var r = CliRunner.Run("train", "--channels", string.Join(",", Enumerable.Repeat("4", 17)));
        AssertUsageError(r, "error: --channels:", "1 to 16 channel counts (1 to 4096)");
    }

    private static void AssertUsageError(CliRunner.Result r, params string[] mentions)
    {
        var lines = r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), $"one error line, got: {r.Error}");
        foreach (var m in mentions) Assert.That(lines[0], Does.Contain(m));
        Assert.That(r.ExitCode, Is.EqualTo(2), "the exit code of a usage error");
        Assert.That(r.Output, Is.Empty, "nothing was done");
    }
}
