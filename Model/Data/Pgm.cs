using System.Text;

namespace SimilarFaces.Model.Data;

/// <summary>An 8-bit Netpbm image: Channels 1 (gray) or 3 (RGB interleaved), rows top to bottom.</summary>
public sealed record NetpbmImage(int Width, int Height, int Channels, byte[] Samples);

/// <summary>
/// Reader for Netpbm graymaps and pixmaps: P2 (plain gray), P5 (binary gray), P3 (plain RGB),
/// P6 (binary RGB), maxval 1..65535.
/// <para>Header: the magic number, then width, height and maxval as ASCII decimals separated by
/// whitespace (space, TAB, LF, VT, FF, CR). A '#' starts a comment that runs through the next CR or
/// LF; it is removed wherever it stands, even inside a number ("1#c\n2" reads 12), as the Netpbm
/// spec and PIL have it. Exactly one whitespace byte follows maxval, and a binary raster starts
/// right after it (so a comment after that byte is raster data). Binary samples are one byte when
/// maxval is below 256, else two bytes big-endian. A plain raster is decimal tokens, comments
/// allowed. Bytes after the raster are ignored.</para>
/// <para>Samples become 8-bit as PIL 9.4's PPM decoders make them: round(v / maxval · 255) in double
/// precision, ties to even (Python's round); maxval 255 keeps every value. Where PIL differs we
/// choose the same scaling: PIL opens a gray image with maxval above 255 as mode "I" (0..65535)
/// and convert("L") then clips it to 255, losing the picture. A sample above maxval is an error
/// (PIL clamps it in binary rasters).</para>
/// </summary>
public static class Pgm
{
    /// <summary>True when the data starts like a Netpbm file ('P' and a digit 1..6).</summary>
    public static bool IsNetpbm(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == 'P' && data[1] is >= (byte)'1' and <= (byte)'6';

    public static NetpbmImage Read(string path) => Decode(File.ReadAllBytes(path), path);

    /// <summary>Decodes a whole file's bytes; <paramref name="name"/> names the file in errors.</summary>
    public static NetpbmImage Decode(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length < 2 || data[0] != 'P' || data[1] is not ((byte)'2' or (byte)'3' or (byte)'5' or (byte)'6'))
            throw new InvalidDataException($"bad magic '{Excerpt(data[..Math.Min(2, data.Length)])}' in {name} (expected P2, P3, P5 or P6)");
        if (data.Length > 2 && !IsWhitespace(data[2]) && data[2] != '#')
            throw new InvalidDataException($"bad magic '{Excerpt(data[..3])}' in {name} (expected P2, P3, P5 or P6 followed by whitespace)");
        bool plain = data[1] is (byte)'2' or (byte)'3';
        int channels = data[1] is (byte)'3' or (byte)'6' ? 3 : 1;
        string kind = channels == 1 ? "PGM" : "PPM";
        var reader = new TokenReader(data, name) { Position = 2 };

        long width = reader.HeaderNumber("width");
        if (width < 1 || width > int.MaxValue)
            throw new InvalidDataException($"bad {kind} width {width} in {name} (must be a positive integer)");
        long height = reader.HeaderNumber("height");
        if (height < 1 || height > int.MaxValue)
            throw new InvalidDataException($"bad {kind} height {height} in {name} (must be a positive integer)");
        ImageLoader.CheckSize(width, height, name);
        long maxval = reader.HeaderNumber("maxval");
        if (maxval < 1 || maxval > 65535)
            throw new InvalidDataException($"unsupported {kind} maxval {maxval} in {name} (must be 1..65535)");
        if (reader.Position == data.Length)
            throw new InvalidDataException($"truncated data in {name}: no raster after the header");
        reader.Position++; // the single whitespace byte that ends the header

        int bytesPerSample = plain ? 1 : maxval < 256 ? 1 : 2; // plain: the least a sample can take
        Int128 needed = (Int128)width * height * channels * bytesPerSample;
        long available = data.Length - reader.Position;
        long sampleCount = width * height * channels; // fits: at most `available`
        if (needed > available)
            throw new InvalidDataException(plain
                ? $"truncated data in {name}: {width}x{height} needs {needed} samples, only {available} bytes follow the header"
                : $"truncated data in {name}: {width}x{height} needs {needed} raster bytes, found {available}");

        var samples = new byte[sampleCount];
        if (!plain && bytesPerSample == 1)
        {
            var raster = data.Slice(reader.Position, samples.Length);
            if (maxval < 255 && raster.IndexOfAnyInRange((byte)(maxval + 1), byte.MaxValue) is int over and >= 0)
                throw new InvalidDataException($"sample {raster[over]} exceeds maxval {maxval} in {name} (row {over / channels / width}, column {over / channels % width})");
            if (maxval == 255) raster.CopyTo(samples);
            else
            {
                var scale = ScaleTable((int)maxval);
                for (int i = 0; i < samples.Length; i++) samples[i] = scale[raster[i]];
            }
            return new NetpbmImage((int)width, (int)height, channels, samples);
        }
        var toByte = ScaleTable((int)maxval);
        for (long i = 0; i < sampleCount; i++)
        {
            long value;
            if (plain)
            {
                value = reader.NextNumberOrEnd("sample");
                if (value < 0)
                    throw new InvalidDataException($"truncated data in {name}: found {i} of {sampleCount} samples");
            }
            else
            {
                int at = reader.Position;
                value = bytesPerSample == 1 ? data[at] : data[at] << 8 | data[at + 1];
                reader.Position += bytesPerSample;
            }
            if (value > maxval)
            {
                long pixel = i / channels;
                throw new InvalidDataException($"sample {value} exceeds maxval {maxval} in {name} (row {pixel / width}, column {pixel % width})");
            }
            samples[i] = toByte[value];
        }
        return new NetpbmImage((int)width, (int)height, channels, samples);
    }

    // round(v / maxval * 255) with ties to even, as Python computes it in PIL's decoders
    private static byte[] ScaleTable(int maxval)
    {
        var table = new byte[maxval + 1];
        for (int v = 0; v <= maxval; v++)
            table[v] = (byte)Math.Round(v / (double)maxval * 255, MidpointRounding.ToEven);
        return table;
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r';

    private static string Excerpt(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder();
        foreach (byte b in bytes[..Math.Min(bytes.Length, 16)])
            text.Append(b is >= 0x20 and < 0x7f ? (char)b : $"\\x{b:x2}");
        return text.ToString();
    }

    private ref struct TokenReader(ReadOnlySpan<byte> data, string name)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        public int Position;

        public long HeaderNumber(string what)
        {
            long value = NextNumberOrEnd(what);
            return value >= 0 ? value : throw new InvalidDataException($"truncated data in {name}: the header ends before the {what}");
        }

        /// <summary>The next decimal token with comments removed, or -1 at the end of the data.
        /// Values beyond int.MaxValue saturate just above it, which every caller rejects.</summary>
        public long NextNumberOrEnd(string what)
        {
            SkipWhitespaceAndComments();
            if (Position == _data.Length)
                return -1;
            int start = Position;
            long value = 0;
            bool digitsOnly = true;
            while (Position < _data.Length && !IsWhitespace(_data[Position]))
            {
                byte b = _data[Position];
                if (b == '#')
                {
                    SkipComment();
                    continue;
                }
                if (b is >= (byte)'0' and <= (byte)'9')
                    value = Math.Min(value * 10 + (b - '0'), (long)int.MaxValue + 1);
                else
                    digitsOnly = false;
                Position++;
            }
            if (!digitsOnly)
                throw new InvalidDataException($"bad {what} '{Excerpt(_data[start..Position])}' in {name} (expected a decimal number)");
            return value;
        }

        private void SkipWhitespaceAndComments()
        {
            while (Position < _data.Length)
            {
                if (_data[Position] == '#')
                    SkipComment();
                else if (IsWhitespace(_data[Position]))
                    Position++;
                else
                    return;
            }
        }

        // from '#' through the next CR or LF
        private void SkipComment()
        {
            while (Position < _data.Length && _data[Position] is not ((byte)'\n' or (byte)'\r'))
                Position++;
            if (Position < _data.Length)
                Position++;
        }
    }
}
