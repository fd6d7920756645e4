using System.CommandLine;
using System.Globalization;

namespace SimilarFaces.Cli;

/// <summary>
/// Options that take a number, each with the range it accepts, said in its help. A word, NaN, ±∞, or a number out of
/// the range is a parse error — one line naming the option and the range, the exit code of every usage error — so no
/// command ever sees it.
/// </summary>
public static class NumberOptions
{
    /// <summary>Whole numbers from <paramref name="min"/> to <paramref name="max"/>; T is int or int?.</summary>
    public static Option<T> Whole<T>(string name, string description, int min, int max, Func<T>? byDefault = null) =>
        Parsed(name, description, string.Create(CultureInfo.InvariantCulture, $"a whole number from {min} to {max}"), byDefault,
            text => int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
                ? value : null);

    /// <summary>Any 64-bit seed, 0 by default.</summary>
    public static Option<ulong> Seed(string name, string description) =>
        Parsed(name, description, $"a whole number from 0 to {ulong.MaxValue}", () => 0UL,
            text => ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value) ? value : null);

    /// <summary>Finite numbers in <paramref name="range"/>, checked as T holds them (T is float?, double or double?: 1e39 is ∞ as a float).</summary>
    public static Option<T> Real<T>(string name, string description, Interval range, Func<T>? byDefault = null) =>
        Parsed(name, description, range.Words, byDefault, text =>
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed)) return null;
            bool single = typeof(T) == typeof(float?);
            double value = single ? (float)parsed : parsed;
            return range.Contains(value) ? (single ? (object)(float)value : value) : null;
        });

    /// <summary>
    /// Low to High, each end included or not; a High of ∞ leaves it open. NaN and ±∞ are never in it.
    /// </summary>
    public sealed record Interval(double Low, bool LowIncluded, double High = double.PositiveInfinity, bool HighIncluded = false)
    {
        public static Interval Positive { get; } = new(0, LowIncluded: false);
        public static Interval NonNegative { get; } = new(0, LowIncluded: true);

        public bool Contains(double value) => double.IsFinite(value)
            && (LowIncluded ? value >= Low : value > Low)
            && (double.IsPositiveInfinity(High) || (HighIncluded ? value <= High : value < High));

        public string Words => double.IsPositiveInfinity(High)
            ? FormattableString.Invariant($"a finite number {(LowIncluded ? "≥" : ">")} {Low}")
            : FormattableString.Invariant($"a number {(LowIncluded ? "≥" : ">")} {Low} and {(HighIncluded ? "≤" : "<")} {High}");
    }

    private static Option<T> Parsed<T>(string name, string description, string range, Func<T>? byDefault, Func<string, object?> parse)
    {
        var option = new Option<T>(name)
        {
            Description = $"{description}; {range}",
            CustomParser = result =>
            {
                string text = string.Join(" ", result.Tokens.Select(t => t.Value));
                if (parse(text) is { } value) return (T)value;
                result.AddError($"{name} must be {range}, got '{text}'");
                return default;
            },
        };
        if (byDefault != null) option.DefaultValueFactory = _ => byDefault();
        return option;
    }
}
