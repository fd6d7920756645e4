using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;

namespace SimilarFaces.Cli;

/// <summary>
/// How often a run writes its checkpoint while training: after a stretch of wall-clock time ("5m", "90s", "1h") or
/// every N epochs ("10epochs"). A checkpoint is a full model and optimizer state (483 MB for the seed network) and a
/// redrawn loss plot, so writing one every epoch of a one-step epoch costs more than the step; the end of a run, Ctrl-C
/// and a non-finite loss always write one.
/// </summary>
public sealed partial record CheckpointInterval(TimeSpan? Time, int? Epochs)
{
    public const string DefaultText = "5m";

    /// <summary>The most of any unit: a million hours is 114 years, well inside what a TimeSpan holds.</summary>
    public const int MaxCount = 1_000_000;

    /// <summary>`--checkpoint-every`, shared by `train` and `crossval`.</summary>
    public static Option<string> Option() => new("--checkpoint-every")
    {
        Description = "Write the checkpoint after this much training time (e.g. 5m, 90s, 1h) or every N epochs (e.g. 10epochs); always at the end, on Ctrl-C and when the loss stops being finite",
        DefaultValueFactory = _ => DefaultText,
    };

    public static CheckpointInterval Parse(string text)
    {
        var match = Pattern().Match(text.Trim());
        if (!match.Success || !int.TryParse(match.Groups["n"].Value, CultureInfo.InvariantCulture, out int n) || n < 1 || n > MaxCount)
            throw new ArgumentException($"--checkpoint-every: '{text}' is neither a time (5m, 90s, 1h) nor a number of epochs (10epochs), from 1 to {MaxCount}");
        return match.Groups["unit"].Value switch
        {
            "s" => new CheckpointInterval(TimeSpan.FromSeconds(n), null),
            "m" => new CheckpointInterval(TimeSpan.FromMinutes(n), null),
            "h" => new CheckpointInterval(TimeSpan.FromHours(n), null),
            _ => new CheckpointInterval(null, n),
        };
    }

    /// <summary>Whether a checkpoint is due after a step that left the trainer at (epoch, stepInEpoch), the last one written <paramref name="sinceLast"/> ago.</summary>
    public bool Due(int epoch, int stepInEpoch, TimeSpan sinceLast) =>
        Time is { } time ? sinceLast >= time : stepInEpoch == 0 && epoch % Epochs!.Value == 0;

    [GeneratedRegex(@"^(?<n>\d{1,9})\s*(?<unit>s|m|h|epochs?)$")]
    private static partial Regex Pattern();
}
