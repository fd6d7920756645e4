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

    /// <summary>Writes a randomly changed copy of <paramref name="source"/> (height, width) into <paramref name="destination"/>.</summary>
    public void Apply(ReadOnlySpan<float> source, Span<float> destination, int height, int width, SeededRandom rng)
    {
        if (IsIdentity)
        {
            source.CopyTo(destination);
            return;
        }
        double angle = rng.NextDouble(-1, 1) * RotationDegrees * Math.PI / 180;
        double scale = 1 + rng.NextDouble(-1, 1) * Scale;
        double shiftX = rng.NextDouble(-1, 1) * Shift * width, shiftY = rng.NextDouble(-1, 1) * Shift * height;
        double mirror = Flip && rng.NextInt(2) == 1 ? -1 : 1;
        double contrast = 1 + rng.NextDouble(-1, 1) * Contrast, brightness = rng.NextDouble(-1, 1) * Brightness;

        // q = c + F·R(−θ)·(p − c − t)/s, written as q = origin + px·dx + py·dy
        double cos = Math.Cos(angle) / scale, sin = Math.Sin(angle) / scale;
        double cx = (width - 1) / 2.0, cy = (height - 1) / 2.0;
        (double X, double Y) column = (mirror * cos, -sin), row = (mirror * sin, cos);
        double ox = -cx - shiftX, oy = -cy - shiftY;
        double sum = 0;
        for (int py = 0; py < height; py++)
            for (int px = 0; px < width; px++)
            {
                double ux = px + ox, uy = py + oy;
                double qx = cx + column.X * ux + row.X * uy, qy = cy + column.Y * ux + row.Y * uy;
                float v = Bilinear(source, height, width, qx, qy);
                destination[py * width + px] = v;
                sum += v;
            }
        float mean = (float)(sum / (height * width));
        for (int i = 0; i < height * width; i++)
            destination[i] = Math.Clamp((destination[i] - mean) * (float)contrast + mean + (float)brightness, 0f, 1f);
    }

    // source (height, width) at (x, y), coordinates clamped to the border
    private static float Bilinear(ReadOnlySpan<float> source, int height, int width, double x, double y)
    {
        x = Math.Clamp(x, 0, width - 1);
        y = Math.Clamp(y, 0, height - 1);
        int x0 = Math.Min((int)x, Math.Max(width - 2, 0)), y0 = Math.Min((int)y, Math.Max(height - 2, 0));
        int x1 = Math.Min(x0 + 1, width - 1), y1 = Math.Min(y0 + 1, height - 1);
        float fx = (float)(x - x0), fy = (float)(y - y0);
        float top = source[y0 * width + x0] + (source[y0 * width + x1] - source[y0 * width + x0]) * fx;
        float bottom = source[y1 * width + x0] + (source[y1 * width + x1] - source[y1 * width + x0]) * fx;
        return top + (bottom - top) * fy;
    }
}
