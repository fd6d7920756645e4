using SimilarFaces.Engine;

namespace SimilarFaces.Model.Data;

/// <summary>
/// Random changes of a training image that keep who it shows, drawn from a seeded stream so a seed fixes them all.
/// Geometry: rotation θ ∈ ±<see cref="RotationDegrees"/> about the centre c, scale s ∈ 1 ± <see cref="Scale"/>,
/// shift t ∈ ±<see cref="Shift"/>·size, and a mirror image (F = diag(−1, 1)) with probability ½ when <see cref="Flip"/>;
/// the output pixel p reads the source at
///   q = c + F·R(−θ)·(p − c − t) / s
/// by bilinear interpolation, clamped to the border. Photometry: v ← (v − mean)·contrast + mean + brightness with
/// contrast ∈ 1 ± <see cref="Contrast"/> and brightness ∈ ±<see cref="Brightness"/>, clipped to [0, 1].
/// </summary>
public sealed record Augmentation
{
    public float RotationDegrees { get; init; }
    public float Scale { get; init; }
    public float Shift { get; init; }
    public bool Flip { get; init; }
    public float Brightness { get; init; }
    public float Contrast { get; init; }

    /// <summary>No change at all.</summary>
    public static Augmentation None { get; } = new();

    [System.Text.Json.Serialization.JsonIgnore] public bool IsIdentity => this == None;

    /// <summary>"none", or comma-separated settings: rotation=DEGREES, scale=F, shift=F, flip, brightness=F, contrast=F (unnamed ones are 0).</summary>
    public static Augmentation Parse(string text)
    {
        if (text.Trim() == "none") return None;
        var result = None;
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, value) = part.Split('=', 2) is [var n, var v] ? (n, v) : (part, null);
            if (name == "flip" && value == null)
            {
                result = result with { Flip = true };
                continue;
            }
            if (value == null || !float.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out float amount)
                || !(amount >= 0) || float.IsPositiveInfinity(amount))
                throw new ArgumentException($"'{part}' is not name=VALUE with a finite VALUE ≥ 0 (or 'flip')");
            result = name switch
            {
                "rotation" => result with { RotationDegrees = amount },
                "scale" when amount < 1 => result with { Scale = amount },
                "shift" when amount < 1 => result with { Shift = amount },
                "brightness" => result with { Brightness = amount },
                "contrast" when amount < 1 => result with { Contrast = amount },
                "scale" or "shift" or "contrast" => throw new ArgumentException($"'{part}': {name} must be below 1"),
                _ => throw new ArgumentException($"unknown augmentation '{name}' (known: rotation, scale, shift, flip, brightness, contrast)"),
            };
        }
        return result;
    }

    public override string ToString()
    {
        if (IsIdentity) return "none";
        var parts = new List<string>();
        void Add(string name, float value)
        {
            if (value != 0) parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{name}={value}"));
        }
        Add("rotation", RotationDegrees);
        Add("scale", Scale);
        Add("shift", Shift);
        if (Flip) parts.Add("flip");
        Add("brightness", Brightness);
        Add("contrast", Contrast);
        return string.Join(",", parts);
    }

    /// <summary>One draw of the random changes for an image of the given size.</summary>
    public readonly record struct Change(double Angle, double Scale, double ShiftX, double ShiftY, bool Mirror, double Contrast, double Brightness);

    /// <summary>Draws the changes of one image (nothing is drawn when there is no augmentation).</summary>
    public Change Draw(int height, int width, SeededRandom rng) => IsIdentity ? default : new Change(
        Angle: rng.NextDouble(-1, 1) * RotationDegrees * Math.PI / 180,
        Scale: 1 + rng.NextDouble(-1, 1) * Scale,
        ShiftX: rng.NextDouble(-1, 1) * Shift * width,
        ShiftY: rng.NextDouble(-1, 1) * Shift * height,
        Mirror: Flip && rng.NextInt(2) == 1,
        Contrast: 1 + rng.NextDouble(-1, 1) * Contrast,
        Brightness: rng.NextDouble(-1, 1) * Brightness);

    /// <summary>Writes a randomly changed copy of <paramref name="source"/> (height, width) into <paramref name="destination"/>.</summary>
    public void Apply(ReadOnlySpan<float> source, Span<float> destination, int height, int width, SeededRandom rng) =>
        Apply(Draw(height, width, rng), source, destination, height, width);

    /// <summary>Writes <paramref name="source"/> (height, width) with the drawn changes into <paramref name="destination"/>.</summary>
    public void Apply(in Change change, ReadOnlySpan<float> source, Span<float> destination, int height, int width)
    {
        if (IsIdentity)
        {
            source.CopyTo(destination);
            return;
        }
        // q = c + F·R(−θ)·u/s with u = p − c − t: qx = cx + m·(cos·ux + sin·uy)/s, qy = cy + (−sin·ux + cos·uy)/s;
        // along a row q moves by (m·cos, −sin)/s per pixel
        float cos = (float)(Math.Cos(change.Angle) / change.Scale), sin = (float)(Math.Sin(change.Angle) / change.Scale), m = change.Mirror ? -1 : 1;
        float cx = (width - 1) / 2f, cy = (height - 1) / 2f;
        double sum = 0;
        for (int py = 0; py < height; py++)
        {
            float uy = py - cy - (float)change.ShiftY, ux = -cx - (float)change.ShiftX;
            float qx = cx + m * (cos * ux + sin * uy), qy = cy - sin * ux + cos * uy;
            var row = destination.Slice(py * width, width);
            for (int px = 0; px < width; px++, qx += m * cos, qy -= sin)
            {
                row[px] = Bilinear(source, height, width, qx, qy);
                sum += row[px];
            }
        }
        float mean = (float)(sum / (height * width)), contrast = (float)change.Contrast, brightness = (float)change.Brightness;
        for (int i = 0; i < height * width; i++)
            destination[i] = Math.Clamp((destination[i] - mean) * contrast + mean + brightness, 0f, 1f);
    }

    // source (height, width) at (x, y), coordinates clamped to the border
    private static float Bilinear(ReadOnlySpan<float> source, int height, int width, float x, float y)
    {
        x = Math.Clamp(x, 0, width - 1);
        y = Math.Clamp(y, 0, height - 1);
        int x0 = Math.Min((int)x, Math.Max(width - 2, 0)), y0 = Math.Min((int)y, Math.Max(height - 2, 0));
        int x1 = Math.Min(x0 + 1, width - 1), y1 = Math.Min(y0 + 1, height - 1);
        float fx = x - x0, fy = y - y0;
        float top = source[y0 * width + x0] + (source[y0 * width + x1] - source[y0 * width + x0]) * fx;
        float bottom = source[y1 * width + x0] + (source[y1 * width + x1] - source[y1 * width + x0]) * fx;
        return top + (bottom - top) * fy;
    }
}
