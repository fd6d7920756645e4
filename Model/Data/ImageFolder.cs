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
        var identities = Entries(root, "", links).Folders;
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
        var filesOf = new Dictionary<string, List<string>>();
        void Walk(string relative)
        {
            var (files, folders) = Entries(Path.Combine(Root, relative), relative + "/", links);
            filesOf[relative] = files;
            foreach (var sub in folders)
                Walk(relative + "/" + sub);
        }
        Walk(identity);

        var images = new List<string>();
        foreach (var folder in Sorted(filesOf.Keys))
            foreach (var name in filesOf[folder])
            {
                string relative = folder + "/" + name;
                if (ImageLoader.Extensions.Contains(Path.GetExtension(name).ToLowerInvariant()))
                    images.Add(relative);
                else
                    warnings.Add($"skipped '{relative}': not an image extension");
            }
        return images;
    }

    // the names of a folder's files and of its sub-folders that are not hidden, each sorted, from one pass over its
    // entries; links to folders go to `links` (relative to the root) instead, and a folder that cannot be read is an
    // error naming it. Hidden is told from the entries alone where the system allows (on Linux a hidden name starts
    // with '.'), not with a call on each one.
    private static (List<string> Files, List<string> Folders) Entries(string folder, string relative, List<string> links)
    {
        var files = new List<string>();
        var folders = new List<string>();
        var entries = new FileSystemEnumerable<(string Name, bool IsFolder, bool IsLink)>(folder,
            (ref FileSystemEntry entry) => (entry.FileName.ToString(), entry.IsDirectory, entry.IsDirectory && entry.Attributes.HasFlag(FileAttributes.ReparsePoint)),
            new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false })
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) => !entry.FileName.StartsWith('.') && !entry.IsHidden,
        };
        foreach (var (name, isFolder, isLink) in entries)
        {
            if (!isFolder) files.Add(name);
            else if (isLink) links.Add(relative + name);
            else folders.Add(name);
        }
        return (Sorted(files), Sorted(folders));
    }

    private static string NotFollowed(List<string> links) =>
        links.Count == 0 ? "" : $"; links to folders are not followed: {string.Join(", ", Sorted(links).Select(l => $"'{l}'"))}";

    private static List<string> Sorted(IEnumerable<string> names)
    {
        var list = names.ToList();
        list.Sort(StringComparer.Ordinal);
        return list;
    }
}
