using System.Text;
using SimilarFaces.Engine;

namespace SimilarFaces.Tests.Fuzz;

/// <summary>
/// Seeded mutations of a valid input, in the spirit of AFL's havoc stage: one to four edits per case, each a bit
/// flip, an interesting byte or 32-bit integer written over the data (0, −1, 0x7FFFFFFF, 65536, ...), a block
/// inserted, deleted or copied elsewhere, or the end cut off. Text inputs get whole-token edits instead: a
/// number, bracket, quote or keyword replaced by another one, so that JSON stays close enough to parse.
/// The same seed always gives the same case.
/// </summary>
public sealed class Mutator(ulong seed)
{
    private readonly SeededRandom _rng = new(seed);

    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x7F, 0x80, 0xFF, (byte)'0', (byte)'#', (byte)' ', (byte)'\n'];
    private static readonly int[] InterestingInts = [0, 1, -1, 2, 255, 256, 65535, 65536, int.MaxValue, int.MinValue, 0x10000000];
    private static readonly string[] InterestingTokens =
        ["null", "0", "-1", "1", "2147483647", "4294967296", "1e309", "-0", "0.5", "\"x\"", "[]", "{}", "[1]", "true", "\"\\ud800\"", "", ",", "\"", "[", "}"];

    public byte[] Bytes(byte[] original)
    {
        var data = new List<byte>(original);
        int edits = 1 + _rng.NextInt(4);
        for (int e = 0; e < edits; e++)
        {
            int at = data.Count == 0 ? 0 : _rng.NextInt(data.Count);
            switch (_rng.NextInt(7))
            {
                case 0 when data.Count > 0:
                    data[at] ^= (byte)(1 << _rng.NextInt(8));
                    break;
                case 1 when data.Count > 0:
                    data[at] = InterestingBytes[_rng.NextInt(InterestingBytes.Length)];
                    break;
                case 2 when data.Count >= 4:
                    at = Math.Min(at, data.Count - 4);
                    var value = BitConverter.GetBytes(InterestingInts[_rng.NextInt(InterestingInts.Length)]);
                    if (_rng.NextInt(2) == 0) Array.Reverse(value); // big-endian, as PNG and JPEG store sizes
                    for (int i = 0; i < 4; i++) data[at + i] = value[i];
                    break;
                case 3:
                    var block = new byte[1 + _rng.NextInt(64)];
                    for (int i = 0; i < block.Length; i++) block[i] = (byte)_rng.NextInt(256);
                    data.InsertRange(at, block);
                    break;
                case 4 when data.Count > 1:
                    data.RemoveRange(at, Math.Min(1 + _rng.NextInt(64), data.Count - at));
                    break;
                case 5 when data.Count > 1:
                    int from = _rng.NextInt(data.Count), length = Math.Min(1 + _rng.NextInt(64), data.Count - from);
                    data.InsertRange(at, data.GetRange(from, length));
                    break;
                default:
                    if (data.Count > 0) data.RemoveRange(at, data.Count - at);
                    break;
            }
        }
        return data.ToArray();
    }

    public string Text(string original)
    {
        var tokens = Tokenize(original);
        int edits = 1 + _rng.NextInt(3);
        for (int e = 0; e < edits && tokens.Count > 0; e++)
            tokens[_rng.NextInt(tokens.Count)] = InterestingTokens[_rng.NextInt(InterestingTokens.Length)];
        return string.Concat(tokens);
    }

    // numbers, strings, and single punctuation characters, so every edit replaces one whole token
    private static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        for (int i = 0; i < text.Length;)
        {
            int start = i;
            if (text[i] == '"')
            {
                for (i++; i < text.Length && text[i] != '"'; i++)
                    if (text[i] == '\\') i++;
                i = Math.Min(i + 1, text.Length);
            }
            else if (char.IsDigit(text[i]) || text[i] == '-')
                while (++i < text.Length && (char.IsDigit(text[i]) || text[i] is '.' or 'e' or 'E' or '+' or '-')) { }
            else if (char.IsLetter(text[i]))
                while (++i < text.Length && char.IsLetter(text[i])) { }
            else
                i++;
            tokens.Add(text[start..i]);
        }
        return tokens;
    }

    public int Next(int n) => _rng.NextInt(n);

    /// <summary>Text for a file or folder name: letters, digits, dots, spaces and a few awkward characters.</summary>
    public string Name()
    {
        const string alphabet = "abcs0123456789.. _-#é";
        var name = new StringBuilder();
        int length = 1 + _rng.NextInt(8);
        for (int i = 0; i < length; i++) name.Append(alphabet[_rng.NextInt(alphabet.Length)]);
        return name.ToString().Trim('.') is "" ? "x" + name : name.ToString(); // never "." or "..", which leave the folder
    }
}
