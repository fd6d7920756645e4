using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace SimilarFaces.Engine.IO;

/// <summary>
/// One named array of a safetensors file: float32 or int64 values with a shape. A tensor to write may also
/// name a device tensor (<see cref="Source"/>), whose values are downloaded only when the file is written,
/// one tensor at a time, so a checkpoint never holds a second copy of the whole model in memory. A float32
/// tensor of a file opened with <see cref="SafeTensors.Open"/> leaves its values in the file (<see cref="Stored"/>)
/// until they are copied into a device tensor, for the same reason when loading.
/// </summary>
public sealed record SafeTensor(string Name, string DType, int[] Shape, float[]? Floats, long[]? Longs, Tensor? Source = null, StoredValues? Stored = null)
{
    /// <summary>A float32 array to write.</summary>
    public static SafeTensor F32(string name, int[] shape, float[] values) => new(name, "F32", shape, values, null);
    /// <summary>An int64 array to write.</summary>
    public static SafeTensor I64(string name, int[] shape, long[] values) => new(name, "I64", shape, null, values);
    /// <summary>A device tensor to write as float32; its values are downloaded when the file is written.</summary>
    public static SafeTensor Of(string name, Tensor tensor) => new(name, "F32", tensor.Shape, null, null, tensor);

    /// <summary>The number of elements.</summary>
    public long Count => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>Float32 values read from a file a piece at a time: 4 MiB.</summary>
    private const int PieceFloats = 1 << 20;

    /// <summary>The float32 values: those held, or those left in the file, read now.</summary>
    public float[] ReadFloats()
    {
        if (Floats != null) return Floats;
        var stored = Stored ?? throw new InvalidOperationException($"tensor '{Name}' holds no float32 values");
        var values = new float[Count];
        stored.Read(values, 0);
        return values;
    }

    /// <summary>Copies the float32 values into <paramref name="destination"/>, which has as many elements; values left in
    /// the file go into it a piece at a time, never all in host memory at once.</summary>
    public void CopyTo(Tensor destination)
    {
        if (destination.Length != Count)
            throw new ArgumentException($"tensor '{Name}' has {Count} values, the destination {destination.ShapeText} {destination.Length}", nameof(destination));
        if (Stored == null)
        {
            destination.CopyFrom(Floats ?? throw new InvalidOperationException($"tensor '{Name}' holds no float32 values"));
            return;
        }
        var piece = new float[Math.Min(Count, PieceFloats)];
        for (long start = 0; start < Count; start += piece.Length)
        {
            var values = piece.AsSpan(0, (int)Math.Min(piece.Length, Count - start));
            Stored.Read(values, start);
            destination.CopyFrom(values, start);
        }
    }
}

/// <summary>Where a float32 tensor's values lie in a file held open: <paramref name="File"/> (named <paramref name="Name"/>
/// in errors) from byte <paramref name="Offset"/>. The open handle keeps reading the file that was validated, even if
/// another is renamed over its path meanwhile.</summary>
public sealed record StoredValues(SafeFileHandle File, string Name, long Offset)
{
    /// <summary>Values [<paramref name="first"/>, first + values.Length) of the tensor.</summary>
    public void Read(Span<float> values, long first)
    {
        var bytes = MemoryMarshal.AsBytes(values);
        long at = Offset + first * sizeof(float);
        while (bytes.Length > 0)
        {
            int read = RandomAccess.Read(File, bytes, at);
            if (read == 0) throw new InvalidDataException($"{Name}: the file ended while its values were read (was it changed meanwhile?)");
            bytes = bytes[read..];
            at += read;
        }
    }
}

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a UTF-8 JSON header
/// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the raw
/// little-endian data, offsets relative to the end of the header. Reading validates the header length,
/// the JSON, every dtype, shape and offset against the file size before it allocates anything large.
/// Writing is atomic: a temporary file beside the target, flushed, then renamed over it.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeaderBytes = 100 * 1024 * 1024;

    /// <summary>What a file holds: its tensors by name and its string metadata; disposing it closes the file that an
    /// <see cref="Open"/>ed one reads its float32 values from.</summary>
    public sealed record Contents(IReadOnlyDictionary<string, SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) : IDisposable
    {
        /// <summary>The file the float32 values are left in, for contents that <see cref="Open"/> gave.</summary>
        internal FileStream? File { get; init; }

        /// <summary>The tensor named <paramref name="name"/>; a missing one is an error naming <paramref name="file"/>.</summary>
        public SafeTensor Get(string name, string file) =>
            Tensors.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"{file}: tensor '{name}' is missing");

        /// <summary>Closes the file the float32 values are left in, if any.</summary>
        public void Dispose() => File?.Dispose();
    }

    /// <summary>Reads and validates a file; any defect is an <see cref="InvalidDataException"/> naming it.</summary>
    public static Contents Read(string path)
    {
        using var stream = OpenFile(path);
        return Read(stream, path);
    }

    /// <summary>
    /// Reads and validates a file's header, and its int64 values, leaving the float32 values in the file, which stays
    /// open until the contents are disposed: <see cref="SafeTensor.CopyTo"/> then reads them straight into device
    /// tensors, and a caller after the metadata reads nothing more. Defects are <see cref="InvalidDataException"/>s naming the file.
    /// </summary>
    public static Contents Open(string path)
    {
        var stream = OpenFile(path);
        try
        {
            return Read(stream, path, stream.SafeFileHandle) with { File = stream };
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>A file's metadata, its header validated, no values read.</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        using var contents = Open(path);
        return contents.Metadata;
    }

    private static FileStream OpenFile(string path) =>
        File.Exists(path) ? File.OpenRead(path) : throw new FileNotFoundException($"{path}: no such file", path);

    /// <summary>Reads and validates a stream; errors name it as <paramref name="name"/>.</summary>
    public static Contents Read(Stream stream, string name) => Read(stream, name, leaveFloatsIn: null);

    // with leaveFloatsIn, float32 values are not read but located in that file (the stream's own)
    private static Contents Read(Stream stream, string name, SafeFileHandle? leaveFloatsIn)
    {
        long fileLength = stream.Length;
        Span<byte> lengthBytes = stackalloc byte[8];
        if (fileLength < 8 || stream.Read(lengthBytes) != 8)
            throw new InvalidDataException($"{name}: truncated safetensors file ({fileLength} bytes, the header length alone needs 8)");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength < 2 || headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
            throw new InvalidDataException($"{name}: header length {headerLength} does not fit the file of {fileLength} bytes");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength, dataLength = fileLength - dataStart;

        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
            throw new InvalidDataException($"{name}: the header is not valid UTF-8");
        JsonDocument header;
        try { header = JsonDocument.Parse(headerBytes); }
        catch (JsonException e) { throw new InvalidDataException($"{name}: the header is not valid JSON ({e.Message})"); }

        var metadata = new Dictionary<string, string>();
        var entries = new List<(string Name, string DType, int[] Shape, long Begin, long End)>();
        using (header)
        {
            try
            {
                if (header.RootElement.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{name}: the header must be a JSON object");
                var seen = new HashSet<string>();
                foreach (var property in header.RootElement.EnumerateObject())
                {
                    if (!seen.Add(property.Name))
                        throw new InvalidDataException($"{name}: '{property.Name}' appears twice in the header");
                    if (property.Name == "__metadata__")
                    {
                        if (property.Value.ValueKind != JsonValueKind.Object)
                            throw new InvalidDataException($"{name}: __metadata__ must be an object of strings");
                        foreach (var m in property.Value.EnumerateObject())
                            if (m.Value.ValueKind != JsonValueKind.String || !metadata.TryAdd(m.Name, m.Value.GetString()!))
                                throw new InvalidDataException($"{name}: __metadata__ value '{m.Name}' is not a string, or appears twice");
                        continue;
                    }
                    entries.Add(ParseEntry(name, property, dataLength));
                }
            }
            catch (InvalidOperationException)
            {
                // a name or value escaping half of a UTF-16 surrogate pair: JSON that no string can hold
                throw new InvalidDataException($"{name}: the header holds a string that is not valid Unicode");
            }
        }

        // Each byte of data belongs to at most one tensor, so reading allocates no more than the file holds.
        entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < entries.Count; i++)
            if (entries[i].Begin < entries[i - 1].End)
                throw new InvalidDataException($"{name}: tensors '{entries[i - 1].Name}' and '{entries[i].Name}' share data bytes");

        var tensors = new Dictionary<string, SafeTensor>();
        foreach (var e in entries)
        {
            stream.Position = dataStart + e.Begin;
            long count = (e.End - e.Begin) / (e.DType == "F32" ? 4 : 8);
            if (count > Array.MaxLength)
                throw new InvalidDataException($"{name}: tensor '{e.Name}' has {count} values, more than one array holds");
            tensors[e.Name] = e.DType != "F32" ? SafeTensor.I64(e.Name, e.Shape, ReadValues<long>(stream, count))
                : leaveFloatsIn != null ? new SafeTensor(e.Name, "F32", e.Shape, null, null, Stored: new StoredValues(leaveFloatsIn, name, dataStart + e.Begin))
                : SafeTensor.F32(e.Name, e.Shape, ReadValues<float>(stream, count));
        }
        return new Contents(tensors, metadata);
    }

    private static (string, string, int[], long, long) ParseEntry(string file, JsonProperty property, long dataLength)
    {
        var tensorName = property.Name;
        var v = property.Value;
        string Where() => $"{file}: tensor '{tensorName}'";
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
            throw new InvalidDataException($"{Where()} needs dtype, shape and data_offsets [begin, end]");
        var dtype = dtypeElement.GetString()!;
        int elementSize = dtype switch
        {
            "F32" => 4,
            "I64" => 8,
            _ => throw new InvalidDataException($"{Where()} has dtype {dtype}; only F32 and I64 are supported"),
        };
        var shape = new int[shapeElement.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var dim) || dim < 0)
                throw new InvalidDataException($"{Where()} has an invalid shape dimension {d.GetRawText()}");
            shape[i++] = dim;
            // the byte count must fit the data, so a count past it is wrong whatever the remaining dimensions
            count = dim != 0 && count > dataLength / dim ? dataLength + 1 : count * dim;
        }
        long? Offset(JsonElement o) => o.ValueKind == JsonValueKind.Number && o.TryGetInt64(out var v) ? v : null;
        var offsets = $"[{offsetsElement[0].GetRawText()}, {offsetsElement[1].GetRawText()}]";
        if (Offset(offsetsElement[0]) is not { } begin || Offset(offsetsElement[1]) is not { } end)
            throw new InvalidDataException($"{Where()} has data_offsets {offsets}; they must be two integers");
        if (begin < 0 || end < begin || end > dataLength)
            throw new InvalidDataException($"{Where()} has data_offsets {offsets} outside the {dataLength} data bytes");
        var needs = count > dataLength ? $"more than the {dataLength} data bytes" : $"{count * elementSize} bytes";
        if (count > dataLength || end - begin != count * elementSize)
            throw new InvalidDataException($"{Where()}: shape ({string.Join(",", shape)}) of {dtype} needs {needs}, data_offsets give {end - begin}");
        return (tensorName, dtype, shape, begin, end);
    }

    private static T[] ReadValues<T>(Stream stream, long count) where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors I/O needs a little-endian machine");
        var values = new T[count];
        stream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    /// <summary>Writes tensors (in the given order) and metadata atomically to <paramref name="path"/>.</summary>
    public static void Write(string path, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Atomic.Write(path, Writer(tensors, metadata));

    /// <summary>What <see cref="Write"/> puts in the file, for a stream of <see cref="Atomic.WriteTogether"/>; the tensors are checked at once.</summary>
    public static Action<Stream> Writer(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors I/O needs a little-endian machine");
        var list = tensors.ToList();
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var t in list)
        {
            long bytes = t.Count * (t.DType == "F32" ? 4 : 8);
            long values = t.Source?.Length ?? t.Floats?.LongLength ?? t.Longs!.LongLength;
            if (values != t.Count)
                throw new ArgumentException($"safetensors: tensor '{t.Name}' has {values} values for shape ({string.Join(",", t.Shape)})");
            header[t.Name] = new { dtype = t.DType, shape = t.Shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;

        return stream =>
        {
            // One staging array, as long as the longest device tensor, serves every tensor downloaded for the file.
            var staging = new float[list.Select(t => t.Source?.Length ?? 0).DefaultIfEmpty(0).Max()];
            Span<byte> lengthBytes = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)padded);
            stream.Write(lengthBytes);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var t in list)
            {
                if (t.Longs != null) stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Longs.AsSpan()));
                else if (t.Floats != null) stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Floats.AsSpan()));
                else
                {
                    var values = staging.AsSpan(0, (int)t.Source!.Length);
                    t.Source.CopyTo(values);
                    stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
                }
            }
        };
    }
}
