using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.IO;

namespace SimilarFaces.Tests.IO;

/// <summary>The safetensors reader and writer: round trip, and a clear error for every kind of corrupt file.</summary>
public sealed class SafeTensorsTests
{
    private string _dir = null!;

    [SetUp]
    public void Scratch() => _dir = Fixtures.NewScratchFolder();

    [TearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void RoundTripKeepsValuesShapesDtypesAndMetadata()
    {
        var path = Path.Combine(_dir, "a.safetensors");
        SafeTensors.Write(path, [SafeTensor.F32("w", [2, 3], [1, -2, 3.5f, float.MaxValue, 0, -0f]), SafeTensor.I64("n", [], [long.MinValue])],
            new Dictionary<string, string> { ["note"] = "ünïcode" });
        var read = SafeTensors.Read(path);
        Assert.That(read.Tensors["w"].Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(read.Tensors["w"].Floats, Is.EqualTo(new[] { 1, -2, 3.5f, float.MaxValue, 0, -0f }));
        Assert.That(read.Tensors["n"].Longs, Is.EqualTo(new[] { long.MinValue }));
        Assert.That(read.Tensors["n"].Shape, Is.Empty);
        Assert.That(read.Metadata["note"], Is.EqualTo("ünïcode"));
        Assert.That((new FileInfo(path).Length - 8 - read.Tensors.Values.Sum(t => t.Count * (t.DType == "F32" ? 4 : 8))) % 8, Is.Zero, "header padded to 8 bytes");
        Assert.That(Directory.GetFiles(_dir), Has.Length.EqualTo(1), "no temporary file left behind");
    }

    // a tensor longer than the 4 MiB pieces an opened file is read in, so that its copy takes two pieces
    private static readonly float[] Long = Enumerable.Range(0, (1 << 20) + 3).Select(i => i * 0.5f - 7).ToArray();

    private string WriteLong(string name, float offset = 0)
    {
        var path = Path.Combine(_dir, name);
        SafeTensors.Write(path, [SafeTensor.F32("long", [Long.Length], Long.Select(v => v + offset).ToArray()), SafeTensor.F32("short", [2], [1f, -0f]),
            SafeTensor.I64("n", [], [42])], new Dictionary<string, string> { ["note"] = $"offset {offset}" });
        return path;
    }

    [Test]
    public void AnOpenedFileLeavesItsFloatsThereUntilTheyAreCopiedIntoATensor()
    {
        using var contents = SafeTensors.Open(WriteLong("a.safetensors"));
        Assert.That(contents.Metadata["note"], Is.EqualTo("offset 0"));
        Assert.That(contents.Tensors["long"].Floats, Is.Null, "not read at open");
        Assert.That(contents.Tensors["n"].Longs, Is.EqualTo(new[] { 42L }));
        using var backend = new CpuBackend();
        using var tensor = Tensor.Persistent(backend, new float[Long.Length], Long.Length);
        contents.Tensors["long"].CopyTo(tensor);
        Assert.That(tensor.ToArray(), Is.EqualTo(Long));
        Assert.That(contents.Tensors["short"].ReadFloats(), Is.EqualTo(new[] { 1f, -0f }));
        using var wrong = Tensor.Persistent(backend, new float[3], 3);
        Assert.That(Assert.Throws<ArgumentException>(() => contents.Tensors["short"].CopyTo(wrong))!.Message, Does.Contain("'short' has 2 values"));
    }

    [Test]
    public void AnOpenedFileIsReadEvenAfterAnotherIsWrittenOverItsPath()
    {
        var path = WriteLong("a.safetensors");
        using var contents = SafeTensors.Open(path);
        WriteLong("a.safetensors", offset: 1);   // written beside it and renamed over it, as every save does
        Assert.That(SafeTensors.Read(path).Tensors["long"].Floats![0], Is.EqualTo(Long[0] + 1), "the path holds the new file");
        Assert.That(contents.Tensors["long"].ReadFloats(), Is.EqualTo(Long), "the opened one still reads its own");
    }

    [Test]
    public void AnOpenedFileCutShortIsAnErrorNamingIt()
    {
        var path = WriteLong("a.safetensors");
        using var contents = SafeTensors.Open(path);
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write)) file.SetLength(file.Length / 2);
        var error = Assert.Throws<InvalidDataException>(() => contents.Tensors["long"].ReadFloats())!;
        Assert.That(error.Message, Does.StartWith(path + ": the file ended while its values were read"));
    }

    [Test]
    public void MetadataAloneIsReadWithoutTheValues()
    {
        var path = WriteLong("a.safetensors");
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(SafeTensors.ReadMetadata(path)["note"], Is.EqualTo("offset 0"));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(Long.Length * sizeof(float) / 4), "the 4 MiB tensor is not read");
    }

    private string WriteRaw(string header, int dataBytes, long? declaredLength = null)
    {
        var path = Path.Combine(_dir, "bad.safetensors");
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(declaredLength ?? json.Length));
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertRejected(string path, params string[] mentions)
    {
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path))!;
        Assert.That(e.Message, Does.Contain(Path.GetFileName(path)));
        foreach (var m in mentions) Assert.That(e.Message, Does.Contain(m));
    }

    [Test]
    public void HeaderLengthBeyondTheFile() => AssertRejected(WriteRaw("{}", 0, declaredLength: 1000), "header length 1000");

    [Test]
    public void ShorterThanTheLengthField()
    {
        var path = Path.Combine(_dir, "tiny.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        AssertRejected(path, "truncated");
    }

    [Test]
    public void InvalidJson() => AssertRejected(WriteRaw("{\"w\": [", 0), "not valid JSON");

    [Test]
    public void UnsupportedDtype() =>
        AssertRejected(WriteRaw("{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4), "'w'", "F16");

    [Test]
    public void OffsetsOutsideTheData() =>
        AssertRejected(WriteRaw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "'w'", "outside the 8 data bytes");

    [Test]
    public void ShapeDisagreesWithOffsets() =>
        AssertRejected(WriteRaw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "'w'", "needs 12 bytes");

    [Test]
    public void MissingFields() => AssertRejected(WriteRaw("{\"w\":{\"dtype\":\"F32\"}}", 0), "'w'", "data_offsets");

    [Test]
    public void ReadsFilesThatPythonWrote()
    {
        var linear = Fixtures.Load(Path.Combine("ops", "linear.safetensors"));
        Assert.That(linear.Tensors["in.weight"].Shape, Is.EqualTo(new[] { 4, 5 }));
        Assert.That(linear.Metadata["generator"], Is.EqualTo("tools/reference/gen_fixtures.py"));
    }
}
