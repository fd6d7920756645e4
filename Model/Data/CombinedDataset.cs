namespace SimilarFaces.Model.Data;

/// <summary>
/// Several datasets as one: identities are matched by name (the same folder name in two roots is the same
/// person), relative paths are prefixed with the index of their root when there is more than one.
/// </summary>
public sealed class CombinedDataset : IFaceDataset
{
    private readonly IFaceDataset[] _parts;
    private readonly (int Part, int Index)[] _items;
    private readonly int[] _labels;

    public CombinedDataset(IReadOnlyList<IFaceDataset> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("no datasets to combine");
        if (parts.Any(p => p.Width != parts[0].Width || p.Height != parts[0].Height))
            throw new ArgumentException("datasets to combine must have the same image size");
        _parts = parts.ToArray();
        var identities = new List<string>();
        var index = new Dictionary<string, int>();
        var items = new List<(int, int)>();
        var labels = new List<int>();
        for (int p = 0; p < _parts.Length; p++)
            for (int i = 0; i < _parts[p].Count; i++)
            {
                var name = _parts[p].Identities[_parts[p].Label(i)];
                if (!index.TryGetValue(name, out var label))
                {
                    index[name] = label = identities.Count;
                    identities.Add(name);
                }
                items.Add((p, i));
                labels.Add(label);
            }
        Identities = identities;
        _items = items.ToArray();
        _labels = labels.ToArray();
    }

    public int Count => _items.Length;
    public int Width => _parts[0].Width;
    public int Height => _parts[0].Height;
    public IReadOnlyList<string> Identities { get; }
    public int Label(int index) => _labels[index];
    public ReadOnlySpan<float> Image(int index) => _parts[_items[index].Part].Image(_items[index].Index);
    public void CopyImage(int index, Span<float> destination) => _parts[_items[index].Part].CopyImage(_items[index].Index, destination);

    public string RelativePath(int index)
    {
        var (part, i) = _items[index];
        var path = _parts[part].RelativePath(i);
        return _parts.Length == 1 ? path : $"{part}:{path}";
    }
}
