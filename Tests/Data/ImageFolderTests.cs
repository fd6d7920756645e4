using NUnit.Framework;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Data;

public class ImageFolderTests
{
    private string _root = "";

    [SetUp]
    public void CreateFolder() => _root = Fixtures.NewScratchFolder();

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_root, recursive: true);

    // a 2x2 binary graymap whose pixels are all `value`
    private void Image(string relative, byte value = 0)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, [.. "P5 2 2 255\n"u8, value, value, value, value]);
    }

    // the path of `relative` under the root, its folder created
    private string Place(string relative)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    private void Text(string relative, string content)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private InvalidDataException Fails() => Assert.Throws<InvalidDataException>(() => new ImageFolder(_root, 4, 3))!;

    [Test]
    public void IdentitiesAndFilesAreSortedOrdinally()
    {
        foreach (var name in new[] { "s10/2.pgm", "s10/10.pgm", "s2/1.pgm", "s1/b.pgm", "s1/a.PGM", "S3/1.png.pgm" })
            Image(name);
        var data = new ImageFolder(_root, 4, 3);
        Assert.That(data.Identities, Is.EqualTo(new[] { "S3", "s1", "s10", "s2" }));
        Assert.That(Enumerable.Range(0, data.Count).Select(data.RelativePath),
            Is.EqualTo(new[] { "S3/1.png.pgm", "s1/a.PGM", "s1/b.pgm", "s10/10.pgm", "s10/2.pgm", "s2/1.pgm" }));
        Assert.That(Enumerable.Range(0, data.Count).Select(data.Label), Is.EqualTo(new[] { 0, 1, 1, 2, 2, 3 }));
    }

    [Test]
    public void NestedFoldersFollowSortedWalkOrder()
    {
        // sorted(os.walk): "p/a" < "p/a-b" < "p/a/c" because '-' sorts before '/'
        Image("p/z.pgm");
        Image("p/a/c/1.pgm");
        Image("p/a-b/1.pgm");
        Image("p/a/1.pgm");
        Image("q/1.pgm");
        var data = new ImageFolder(_root, 4, 3);
        Assert.That(Enumerable.Range(0, data.Count).Select(data.RelativePath),
            Is.EqualTo(new[] { "p/z.pgm", "p/a/1.pgm", "p/a-b/1.pgm", "p/a/c/1.pgm", "q/1.pgm" }));
        Assert.That(data.Warnings, Has.None.Contains("not an image extension"), "a folder is walked, never taken for a file");
    }

    [Test]
    public void ImagesAreDecodedAndResizedOnceAtLoad()
    {
        Image("a/1.pgm", 51);
        Image("b/1.pgm", 255);
        Image("b/2.pgm", 0);
        var data = new ImageFolder(_root, 4, 3);
        Assert.That((data.Count, data.Width, data.Height), Is.EqualTo((3, 4, 3)));
        Assert.That(data.Image(0).ToArray(), Has.Length.EqualTo(12).And.All.EqualTo(0.2f));
        Assert.That(data.Image(1).ToArray(), Is.All.EqualTo(1f));
        Assert.That(data.Image(2).ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void ImagesDecodedInParallelLandInTheirOwnPlaces()
    {
        // more images than cores, each with its own value, so that a slice written by the wrong file shows
        for (int i = 0; i < 120; i++) Image($"p{i / 10:D2}/{i % 10}.pgm", (byte)(2 * i + 1));
        var data = new ImageFolder(_root, 4, 3);
        Assert.That(data.Count, Is.EqualTo(120));
        for (int i = 0; i < data.Count; i++)
        {
            var alone = new float[12];
            ImageLoader.LoadResized(Path.Combine(_root, data.RelativePath(i)), 4, 3, alone);
            Assert.That(data.Image(i).ToArray(), Is.EqualTo(alone).And.All.EqualTo((2 * i + 1) / 255f), data.RelativePath(i));
        }
    }

    [Test]
    public void OnDemandImagesAreTheImagesDecodedAtLoad()
    {
        for (int i = 0; i < 120; i++) Image($"p{i / 10:D2}/{i % 10}.pgm", (byte)(2 * i + 1));
        var atLoad = new ImageFolder(_root, 4, 3);
        var onDemand = new ImageFolder(_root, 4, 3, ImageDecoding.OnDemand);
        Assert.That((onDemand.Count, onDemand.Identities), Is.EqualTo((atLoad.Count, atLoad.Identities)));
        var copied = new float[12];
        for (int i = 0; i < atLoad.Count; i++)
        {
            Assert.That(onDemand.RelativePath(i), Is.EqualTo(atLoad.RelativePath(i)));
            Assert.That(onDemand.Image(i).ToArray(), Is.EqualTo(atLoad.Image(i).ToArray()), atLoad.RelativePath(i));
            onDemand.CopyImage(i, copied);
            Assert.That(copied, Is.EqualTo(atLoad.Image(i).ToArray()), atLoad.RelativePath(i));
        }
    }

    [Test]
    public void OnDemandABrokenFileIsNamedWhenItIsAskedFor()
    {
        Image("a/1.pgm", 51);
        File.WriteAllBytes(Place("b/1.pgm"), [.. "P5 92 112 255\n"u8, 1, 2, 3]);
        var data = new ImageFolder(_root, 4, 3, ImageDecoding.OnDemand);
        Assert.That(data.Image(0).ToArray(), Is.All.EqualTo(0.2f));
        string broken = Path.Combine(_root, "b", "1.pgm");
        Assert.That(Assert.Throws<InvalidDataException>(() => data.Image(1))!.Message, Does.StartWith($"truncated data in {broken}:"));
        Assert.That(Assert.Throws<InvalidDataException>(() => data.CopyImage(1, new float[12]))!.Message, Does.StartWith($"truncated data in {broken}:"));
    }

    [Test]
    public void OfManyBrokenFilesTheFirstInOrderIsNamed()
    {
        // Ten slow images (600×600) come first, then sixty truncated files. Another core reaches a broken file long
        // before the first core gets past the slow ones, yet the error must be the first broken file's in the
        // dataset's order (a/10.pgm), as a sequential load reports it.
        byte[] large = [.. "P5 600 600 255\n"u8, .. new byte[600 * 600]];
        for (int i = 0; i < 10; i++) File.WriteAllBytes(Place($"a/{i:D2}.pgm"), large);
        for (int i = 10; i < 70; i++) File.WriteAllBytes(Place($"{(i < 20 ? "a" : "b")}/{i:D2}.pgm"), [.. "P5 92 112 255\n"u8, 1, 2, 3]);
        string first = Path.Combine(_root, "a", "10.pgm");
        for (int attempt = 0; attempt < 5; attempt++)
            Assert.That(Fails().Message, Does.StartWith($"truncated data in {first}:"));
    }

    [Test]
    public void HiddenFilesAreIgnoredAndUnknownExtensionsWarned()
    {
        Image("a/1.pgm");
        Image("a/.2.pgm");
        Image(".hidden/1.pgm");
        Text("a/notes.txt", "not an image");
        Image("b/1.pgm");
        Image("b/2.pgm");
        var data = new ImageFolder(_root, 4, 3);
        Assert.That(data.Identities, Is.EqualTo(new[] { "a", "b" }));
        Assert.That(data.Count, Is.EqualTo(3));
        Assert.That(data.Warnings, Is.EqualTo(new[]
        {
            "skipped 'a/notes.txt': not an image extension",
            "identity 'a' has 1 image: usable only in different-identity pairs (a same-identity pair can only repeat it)",
        }));
    }

    private void FolderLink(string relative, string target)
    {
        try
        {
            Directory.CreateSymbolicLink(Path.Combine(_root, relative), target);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            Assert.Ignore($"this account cannot make symbolic links here: {e.Message}");
        }
    }

    [Test]
    public void LinksToFoldersAreNotFollowed()
    {
        Image("s1/1.pgm", 1);
        Image("s2/1.pgm", 2);
        Image("s2/2.pgm", 2);
        FolderLink("s1/up", "..");          // a loop: s1/up/s1/up/…, and s2's images under s1
        FolderLink("s1/friend", "../s2");   // another person's folder
        FolderLink("s3", "s2");             // the same person under a second name
        var data = new ImageFolder(_root, 4, 3);
        Assert.That(data.Identities, Is.EqualTo(new[] { "s1", "s2" }));
        Assert.That(Enumerable.Range(0, data.Count).Select(data.RelativePath), Is.EqualTo(new[] { "s1/1.pgm", "s2/1.pgm", "s2/2.pgm" }));
        Assert.That(data.Warnings.Take(3), Is.EqualTo(new[] { "s1/friend", "s1/up", "s3" }.Select(link =>
            $"skipped '{link}': a link to a folder, not followed (it could loop, or bring in another person's images)")));
    }

    [Test]
    public void AFolderOfLinksSaysTheyAreNotFollowed()
    {
        Image("people/a/1.pgm");
        Image("people/b/1.pgm");
        Directory.CreateDirectory(Path.Combine(_root, "linked"));
        FolderLink("linked/a", Path.Combine(_root, "people", "a"));
        FolderLink("linked/b", Path.Combine(_root, "people", "b"));
        var error = Assert.Throws<InvalidDataException>(() => new ImageFolder(Path.Combine(_root, "linked"), 4, 3))!;
        Assert.That(error.Message, Does.Contain("no identity sub-folders").And.EndWith("; links to folders are not followed: 'a', 'b'"));
    }

    [Test]
    public void MissingFolder()
    {
        string missing = Path.Combine(_root, "nowhere");
        var error = Assert.Throws<DirectoryNotFoundException>(() => new ImageFolder(missing))!;
        Assert.That(error.Message, Does.Contain(missing).And.Contain("does not exist"));
    }

    [Test]
    public void EmptyFolder() =>
        Assert.That(Fails().Message, Does.Contain(_root).And.Contain("no identity sub-folders"));

    [Test]
    public void ImagesWithoutIdentityFolders()
    {
        Image("1.pgm");
        Assert.That(Fails().Message, Does.Contain("no identity sub-folders"));
    }

    [Test]
    public void NoImages()
    {
        Text("a/readme.txt", "x");
        Directory.CreateDirectory(Path.Combine(_root, "b"));
        Assert.That(Fails().Message, Does.StartWith($"no images found under '{_root}'"));
    }

    [Test]
    public void IdentityWithoutImages()
    {
        Image("a/1.pgm");
        Image("b/1.pgm");
        Directory.CreateDirectory(Path.Combine(_root, "c"));
        Assert.That(Fails().Message, Is.EqualTo($"identity folder 'c' in '{_root}' contains no images"));
    }

    [Test]
    public void FewerThanTwoIdentities()
    {
        Image("a/1.pgm");
        Image("a/2.pgm");
        Assert.That(Fails().Message, Does.Contain("one identity ('a')").And.Contain("at least two"));
    }

    [Test]
    public void PixelsBeyondOneArrayAreRefusedBeforeDecoding()
    {
        Image("a/1.pgm");
        Image("b/1.pgm");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => new ImageFolder(_root, 32768, 32768))!;
        Assert.That(error.Message, Does.Contain("2 images of 32768x32768 are more than one array of pixels holds"));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20));
    }

    [Test]
    public void NonImageFileIsNamed()
    {
        Image("a/1.pgm");
        Text("b/1.png", "plain text, not a PNG");
        string path = Path.Combine(_root, "b/1.png");
        Assert.That(Fails().Message, Does.StartWith($"cannot decode {path} as an image"));
    }

    [Test]
    public void TruncatedFilesAreNamed()
    {
        Image("a/1.pgm");
        string pgm = Path.Combine(_root, "b", "1.pgm");
        Directory.CreateDirectory(Path.GetDirectoryName(pgm)!);
        File.WriteAllBytes(pgm, [.. "P5 92 112 255\n"u8, 1, 2, 3]);
        Assert.That(Fails().Message, Does.StartWith($"truncated data in {pgm}"));

        File.Delete(pgm);

        foreach (var (name, problem) in new[] { ("synthetic_rgb.png", "cannot decode"), ("synthetic_rgb.jpg", "truncated data in"), ("synthetic_rgb.bmp", "truncated data in") })
        {
            var whole = File.ReadAllBytes(Path.Combine(Fixtures.Directory, "images", name));
            string truncated = Path.Combine(_root, "b", name);
            File.WriteAllBytes(truncated, whole[..(whole.Length * 2 / 3)]);
            Assert.That(Fails().Message, Does.StartWith($"{problem} {truncated}"), name);
            File.Delete(truncated);
        }
    }

    [Test]
    public void CompleteImagesOfEachFormatLoad()
    {
        foreach (var name in new[] { "synthetic_rgb.png", "synthetic_rgb.jpg", "synthetic_rgb.bmp", "synthetic_palette.png" })
        {
            // identity = the file's stem
            string folder = Path.Combine(_root, Path.GetFileNameWithoutExtension(name));
            Directory.CreateDirectory(folder);
            File.Copy(Path.Combine(Fixtures.Directory, "images", name), Path.Combine(folder, name));
        }
        var data = new ImageFolder(_root, 4, 3);
        Assert.That(data.Identities, Is.EqualTo(new[] { "synthetic_palette", "synthetic_rgb" }));
        Assert.That(data.Count, Is.EqualTo(4));
    }
}
