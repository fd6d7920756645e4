using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
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
