using System.IO.Enumeration;

namespace SimilarFaces.Model.Data;

/// <summary>
/// A dataset laid out like torchvision's ImageFolder: one sub-folder per identity under the root,
/// identities sorted by ordinal name, and within an identity every image in it or its sub-folders,
/// sorted by path (as sorted(os.walk) and sorted file names give). Each image is decoded and put
/// through the seed notebook's input transform (<see cref="ImageLoader.LoadResized"/>) once, at load, on all cores,
/// or, with <see cref="ImageDecoding.OnDemand"/>, each time it is asked for.
/// Hidden files and folders (leading '.') are ignored; files without an image extension are
/// skipped with a warning. An identity with one image is allowed, with a warning: it can only be
/// paired with itself or with other identities.
/// Links to folders below the root are not followed, neither as identity folders nor inside one, and
/// each is named in a warning: a link can loop (s1/up → ..) or bring another person's images in under
/// the wrong name, and not following any is the simplest rule that rules out both. The root itself may
/// be a link, and links to image files are read.
/// </summary>
public sealed class ImageFolder : IFaceDataset
{
    private readonly float[]? _pixels;
    private readonly int[] _labels;
    private readonly string[] _paths;

    public ImageFolder(string root, int width = 100, int height = 100, ImageDecoding decoding = ImageDecoding.AtLoad)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"image folder '{root}' does not exist");
        Root = root;
        Width = width;
        Height = height;

        var warnings = new List<string>();
        var links = new List<string>();
        var identities = SubFolders(root, "", links);
        if (identities.Count == 0)
            throw new InvalidDataException($"image folder '{root}' has no identity sub-folders (expected one folder per person, e.g. {Path.Combine(root, "s1", "1.pgm")}){NotFollowed(links)}");
        var files = identities.Select(identity => ImagesOf(identity, warnings, links)).ToList();
        if (files.All(f => f.Count == 0))
            throw new InvalidDataException($"no images found under '{root}' (extensions read: {string.Join(", ", ImageLoader.Extensions)}){NotFollowed(links)}");
        var empty = identities.Where((_, i) => files[i].Count == 0).ToList();
        if (empty.Count > 0)
            throw new InvalidDataException($"identity folder{(empty.Count > 1 ? "s" : "")} {string.Join(", ", empty.Select(e => $"'{e}'"))} in '{root}' contain{(empty.Count > 1 ? "" : "s")} no images{NotFollowed(links)}");
        warnings.InsertRange(0, Sorted(links).Select(link => $"skipped '{link}': a link to a folder, not followed (it could loop, or bring in another person's images)"));
        if (identities.Count < 2)
            throw new InvalidDataException($"image folder '{root}' has one identity ('{identities[0]}'): pairs of different people need at least two");
        for (int i = 0; i < identities.Count; i++)
            if (files[i].Count == 1)
                warnings.Add($"identity '{identities[i]}' has 1 image: usable only in different-identity pairs (a same-identity pair can only repeat it)");

        Identities = identities;
        Warnings = warnings;
        _paths = files.SelectMany(f => f).ToArray();
        _labels = files.SelectMany((f, label) => Enumerable.Repeat(label, f.Count)).ToArray();
        int size = checked(width * height);
        if (decoding == ImageDecoding.OnDemand) return;
        if ((long)_paths.Length * size > Array.MaxLength)
            throw new InvalidDataException($"image folder '{root}': {_paths.Length} images of {width}x{height} are more than one array of pixels holds ({Array.MaxLength:N0} values)");
        var pixels = new float[(long)_paths.Length * size];
        // When files fail, the error is that of the first failing file in the dataset's order.
        OrderedParallel.For(_paths.Length, i => Decode(i, pixels.AsSpan(i * size, size)));
        _pixels = pixels;
    }

    public string Root { get; }
    public int Count => _paths.Length;
    public int Width { get; }
    public int Height { get; }
    public IReadOnlyList<string> Identities { get; }

    /// <summary>What was skipped or is questionable, one sentence each.</summary>
    public IReadOnlyList<string> Warnings { get; }

    public int Label(int index) => _labels[index];

    public ReadOnlySpan<float> Image(int index)
    {
        if (_pixels != null) return _pixels.AsSpan(index * Width * Height, Width * Height);
        var image = new float[Width * Height];
        Decode(index, image);
        return image;
    }

    public void CopyImage(int index, Span<float> destination)
    {
        if (_pixels != null) Image(index).CopyTo(destination);
        else Decode(index, destination);
    }

    private void Decode(int index, Span<float> destination) =>
        ImageLoader.LoadResized(Path.Combine(Root, _paths[index]), Width, Height, destination);
    public string RelativePath(int index) => _paths[index];

    // image paths relative to the root, '/'-separated: folders in sorted path order, files sorted within
    private List<string> ImagesOf(string identity, List<string> warnings, List<string> links)
    {
        var folders = new List<string>();
        void Walk(string relative)
        {
            folders.Add(relative);
            foreach (var sub in SubFolders(Path.Combine(Root, relative), relative + "/", links))
                Walk(relative + "/" + sub);
        }
        Walk(identity);

        var images = new List<string>();
        foreach (var folder in Sorted(folders))
            foreach (var name in VisibleFiles(Path.Combine(Root, folder)))
            {
                string relative = folder + "/" + name;
                if (ImageLoader.Extensions.Contains(Path.GetExtension(name).ToLowerInvariant()))
                    images.Add(relative);
                else
                    warnings.Add($"skipped '{relative}': not an image extension");
            }
        return images;
    }

    // names of the folder's files that are not hidden, sorted; told from the folder's entries alone, where the system
    // allows (on Linux a hidden file is one whose name starts with '.'), not with a call on each file
    private static List<string> VisibleFiles(string folder) =>
        Sorted(new FileSystemEnumerable<string>(folder, (ref FileSystemEntry entry) => entry.FileName.ToString(), new EnumerationOptions { AttributesToSkip = 0 })
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) => !entry.IsDirectory && !entry.FileName.StartsWith('.') && !entry.IsHidden,
        });

    // names of the folder's sub-folders that are not hidden, sorted; links to folders go to `links` (relative to the root) instead
    private static List<string> SubFolders(string folder, string relative, List<string> links)
    {
        var names = new List<string>();
        foreach (var sub in new DirectoryInfo(folder).EnumerateDirectories().Where(d => !IsHidden(d.FullName)))
        {
            if (sub.LinkTarget != null) links.Add(relative + sub.Name);
            else names.Add(sub.Name);
        }
        return Sorted(names);
    }

    private static string NotFollowed(List<string> links) =>
        links.Count == 0 ? "" : $"; links to folders are not followed: {string.Join(", ", Sorted(links).Select(l => $"'{l}'"))}";

    private static List<string> Sorted(IEnumerable<string> names)
    {
        var list = names.ToList();
        list.Sort(StringComparer.Ordinal);
        return list;
    }

    private static bool IsHidden(string path) =>
        Path.GetFileName(path).StartsWith('.') || File.GetAttributes(path).HasFlag(FileAttributes.Hidden);
}
