using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Data.Images;

/// <summary>How an image becomes a sequence.</summary>
internal enum PixelOrder
{
    /// <summary>One row per step: T = rows steps of I = columns pixels (28 x 28 for Fashion-MNIST).</summary>
    Rows,

    /// <summary>One pixel per step in reading order: T = rows x columns steps of I = 1 (784 x 1).</summary>
    Pixels,

    /// <summary>One pixel per step in a fixed, seeded random order (the same for every image): 784 x 1.</summary>
    Permuted,
}

/// <summary>What a sequence-classification dataset gives a trainer: labelled sequences of one length, read in minibatches.</summary>
internal interface ISequenceClassificationData
{
    /// <summary>N, the number of sequences.</summary>
    int Count { get; }

    /// <summary>T, the steps of every sequence.</summary>
    int Steps { get; }

    /// <summary>I, the features per step.</summary>
    int InputSize { get; }

    /// <summary>C, the number of classes.</summary>
    int ClassCount { get; }

    /// <summary>Copies the sequences <paramref name="indices"/> time-major into <paramref name="inputs"/> [T, B, I] and their classes into <paramref name="labels"/> [B].</summary>
    void CopyBatch(ReadOnlySpan<int> indices, Span<float> inputs, Span<int> labels);
}

/// <summary>How a model's images were turned into sequences, stored in its model file (<see cref="MetadataKey"/>).</summary>
/// <param name="Dataset">The dataset's name, e.g. fashion-mnist.</param>
/// <param name="Order">Rows, pixels or permuted.</param>
/// <param name="Rows">Image height.</param>
/// <param name="Columns">Image width.</param>
/// <param name="PermutationSeed">The seed of the permutation (permuted order only).</param>
/// <param name="Permutation">Step t reads pixel Permutation[t] (row-major index); null unless permuted.</param>
/// <param name="DataDirectory">Where the training run found the IDX files.</param>
/// <param name="TrainCount">Training images used (the first N), or null for all but the validation images.</param>
/// <param name="ValidationCount">The last N training images, held out for validation.</param>
/// <param name="TestCount">Test images scored (the first N), or null for all.</param>
internal sealed record ImageSequenceDescription(
    string Dataset, PixelOrder Order, int Rows, int Columns, long PermutationSeed, int[]? Permutation, string DataDirectory,
    int? TrainCount = null, int ValidationCount = 5000, int? TestCount = null)
{
    /// <summary>The metadata key in a model file.</summary>
    public const string MetadataKey = "unroll.images";

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    }, IO.EnumNames.CamelCase, DataJsonContext.Default, DataJson.Enums);

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, IO.Json.Info<ImageSequenceDescription>(JsonOptions));

    /// <summary>Reads what <see cref="ToJson"/> wrote.</summary>
    /// <exception cref="UnrollException">The JSON is malformed, or the permutation is not one.</exception>
    public static ImageSequenceDescription FromJson(string json)
    {
        ImageSequenceDescription? description;
        try
        {
            description = JsonSerializer.Deserialize(json, IO.Json.Info<ImageSequenceDescription>(JsonOptions));
        }
        catch (JsonException e)
        {
            throw new UnrollException($"image description: expected JSON, got invalid JSON ({e.Message}).", e);
        }

        if (description is null || description.Rows < 1 || description.Columns < 1 || !Enum.IsDefined(description.Order))
        {
            throw new UnrollException("image description: expected the image size and pixel order.");
        }

        // Rows * Columns is the number of steps (pixel order) and the permutation's length.
        if ((long)description.Rows * description.Columns > Array.MaxLength)
        {
            throw new UnrollException($"image description: expected images of at most {Array.MaxLength} pixels, got {description.Rows} x {description.Columns}.");
        }

        if (description.Dataset is null || description.DataDirectory is null)
        {
            throw new UnrollException("image description: expected the dataset's name and its data directory as strings, got null.");
        }

        if (description.Order == PixelOrder.Permuted)
        {
            SequentialImages.CheckPermutation(description.Permutation, description.Rows * description.Columns);
        }

        return description;
    }
}

/// <summary>
/// Labelled images as sequences (Le, Jaitly and Hinton 2015's sequential and permuted MNIST):
/// pixels scaled to [0, 1] (value / 255, as torchvision's ToTensor), read row by row, pixel by
/// pixel, or pixel by pixel in a fixed permutation. Stored as bytes; batches are built on demand.
/// </summary>
internal sealed class SequentialImages : ISequenceClassificationData
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;
    private readonly int[]? _permutation;
    private readonly int _first;

    /// <summary>Images [N, rows, columns] and labels [N] (each below <paramref name="classCount"/>).</summary>
    /// <exception cref="UnrollException">The sizes disagree, a label is out of range, or the permutation is not one of the pixels.</exception>
    public SequentialImages(byte[] pixels, byte[] labels, int rows, int columns, int classCount, PixelOrder order, int[]? permutation, string source = "images")
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        if (rows < 1 || columns < 1 || pixels.Length != (long)labels.Length * rows * columns)
        {
            throw new UnrollException($"{source}: {pixels.Length} pixel values for {labels.Length} labels of {rows} x {columns} images; expected one image per label.");
        }

        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= classCount)
            {
                throw new UnrollException($"{source}: label {i} is {labels[i]}; expected a class from 0 to {classCount - 1}.");
            }
        }

        if (order == PixelOrder.Permuted)
        {
            CheckPermutation(permutation, rows * columns);
        }

        _pixels = pixels;
        _labels = labels;
        _permutation = order == PixelOrder.Permuted ? permutation : null;
        Rows = rows;
        Columns = columns;
        ClassCount = classCount;
        Order = order;
        Count = labels.Length;
    }

    private SequentialImages(SequentialImages whole, int first, int count)
    {
        _pixels = whole._pixels;
        _labels = whole._labels;
        _permutation = whole._permutation;
        _first = whole._first + first;
        Rows = whole.Rows;
        Columns = whole.Columns;
        ClassCount = whole.ClassCount;
        Order = whole.Order;
        Count = count;
    }

    /// <inheritdoc/>
    public int Count { get; }

    /// <summary>Image height.</summary>
    public int Rows { get; }

    /// <summary>Image width.</summary>
    public int Columns { get; }

    /// <inheritdoc/>
    public int ClassCount { get; }

    /// <summary>How the pixels are read.</summary>
    public PixelOrder Order { get; }

    /// <inheritdoc/>
    public int Steps => Order == PixelOrder.Rows ? Rows : Rows * Columns;

    /// <inheritdoc/>
    public int InputSize => Order == PixelOrder.Rows ? Columns : 1;

    /// <summary>The class of image <paramref name="index"/>.</summary>
    public int Label(int index) => _labels[_first + index];

    /// <summary>The same images read in another order, sharing the storage.</summary>
    /// <exception cref="UnrollException">The permutation is not one of the pixels (permuted order).</exception>
    public SequentialImages WithOrder(PixelOrder order, int[]? permutation)
    {
        var whole = new SequentialImages(_pixels, _labels, Rows, Columns, ClassCount, order, permutation);
        return whole.Slice(_first, Count);
    }

    /// <summary>The images <c>first .. first + count - 1</c>, sharing the storage.</summary>
    public SequentialImages Slice(int first, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, Count - count);
        return new SequentialImages(this, first, count);
    }

    /// <inheritdoc/>
    public void CopyBatch(ReadOnlySpan<int> indices, Span<float> inputs, Span<int> labels)
    {
        int batch = indices.Length, steps = Steps, width = InputSize, pixels = Rows * Columns;
        if (inputs.Length != steps * batch * width || labels.Length != batch)
        {
            throw new ArgumentException($"Expected inputs [T={steps}, B={batch}, I={width}] and labels [B], got {inputs.Length} and {labels.Length} values.");
        }

        for (int b = 0; b < batch; b++)
        {
            int image = _first + indices[b];
            labels[b] = _labels[image];
            var source = _pixels.AsSpan(image * pixels, pixels);
            for (int t = 0; t < steps; t++)
            {
                for (int i = 0; i < width; i++)
                {
                    int pixel = Order switch
                    {
                        PixelOrder.Rows => (t * Columns) + i,
                        PixelOrder.Pixels => t,
                        _ => _permutation![t],
                    };
                    inputs[(((t * batch) + b) * width) + i] = source[pixel] / 255f;
                }
            }
        }
    }

    /// <summary>A fixed permutation of 0 .. length - 1 from <paramref name="seed"/> (Fisher-Yates with SplitMix64).</summary>
    public static int[] Permutation(int length, long seed)
    {
        var permutation = Enumerable.Range(0, length).ToArray();
        new SplitMix64(seed).Shuffle(permutation.AsSpan());
        return permutation;
    }

    internal static void CheckPermutation(int[]? permutation, int length)
    {
        if (permutation is null || permutation.Length != length)
        {
            throw new UnrollException($"permuted order: expected a permutation of {length} pixels, got {permutation?.Length ?? 0} entries.");
        }

        var seen = new bool[length];
        foreach (int p in permutation)
        {
            if ((uint)p >= (uint)length || seen[p])
            {
                throw new UnrollException($"permuted order: expected every pixel 0 .. {length - 1} exactly once, got {p} {((uint)p >= (uint)length ? "out of range" : "twice")}.");
            }

            seen[p] = true;
        }
    }
}

/// <summary>Fashion-MNIST (Xiao, Rasul and Vollgraf 2017) from its four IDX files, as Debian's dataset-fashion-mnist installs them.</summary>
internal static class FashionMnist
{
    /// <summary>Where Debian's dataset-fashion-mnist puts the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The ten classes, by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Reads the training (60000) or test (10000) images and labels from <paramref name="directory"/>.</summary>
    /// <exception cref="UnrollException">A file is missing or malformed, or images and labels disagree.</exception>
    public static SequentialImages Load(string directory, bool train, PixelOrder order, int[]? permutation)
    {
        var (imagesPath, labelsPath) = Files(directory, train);
        var images = IdxFile.Read(imagesPath, 3);
        var labels = IdxFile.Read(labelsPath, 1);
        if (images.Dimensions[0] != labels.Dimensions[0])
        {
            throw new UnrollException($"{labelsPath}: holds {labels.Dimensions[0]} labels but {imagesPath} holds {images.Dimensions[0]} images; expected one label per image.");
        }

        for (int i = 0; i < labels.Values.Length; i++)
        {
            if (labels.Values[i] >= ClassNames.Count)
            {
                throw new UnrollException($"{labelsPath}: label {i} is {labels.Values[i]}; expected a class from 0 to {ClassNames.Count - 1}.");
            }
        }

        return new SequentialImages(images.Values, labels.Values, images.Dimensions[1], images.Dimensions[2], ClassNames.Count, order, permutation, imagesPath);
    }

    /// <summary>The images and labels files of the training or test part in <paramref name="directory"/>.</summary>
    public static (string Images, string Labels) Files(string directory, bool train)
    {
        string prefix = train ? "train" : "t10k";
        return (Find(directory, $"{prefix}-images-idx3-ubyte"), Find(directory, $"{prefix}-labels-idx1-ubyte"));
    }

    // The .gz file as distributed, or an uncompressed one of the same name without .gz.
    private static string Find(string directory, string name)
    {
        string compressed = Path.Combine(directory, name + ".gz");
        string plain = Path.Combine(directory, name);
        return File.Exists(compressed) || !File.Exists(plain) ? compressed : plain;
    }
}
