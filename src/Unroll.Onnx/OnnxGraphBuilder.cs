using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Unroll.Onnx;

/// <summary>Appends nodes, initializers and tensor types to an ONNX graph, keeping the protobuf plumbing in one place.</summary>
internal sealed class OnnxGraphBuilder(string name)
{
    public GraphProto Graph { get; } = new() { Name = name };

    /// <summary>A float32 initializer of the given shape, its values little-endian in raw_data.</summary>
    public string AddFloats(string tensorName, long[] shape, float[] values)
    {
        CheckCount(tensorName, shape, values.Length);
        var tensor = new TensorProto { Name = tensorName, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(shape);
        tensor.RawData = ByteString.CopyFrom(LittleEndianBytes(MemoryMarshal.AsBytes(values.AsSpan())));
        Graph.Initializer.Add(tensor);
        return tensorName;
    }

    /// <summary>A 1-D int64 initializer (shapes, axes); asking again for the same name reuses the first one.</summary>
    public string AddInt64s(string tensorName, params long[] values)
    {
        if (Graph.Initializer.Any(existing => existing.Name == tensorName))
        {
            return tensorName;
        }

        var tensor = new TensorProto { Name = tensorName, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        Graph.Initializer.Add(tensor);
        return tensorName;
    }

    /// <summary>A node; an empty string among <paramref name="inputs"/> or <paramref name="outputs"/> leaves that optional one out.</summary>
    public NodeProto AddNode(string opType, string nodeName, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = nodeName };
        node.Input.AddRange(WithoutTrailingOmissions(inputs));
        node.Output.AddRange(WithoutTrailingOmissions(outputs));
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return node;
    }

    /// <summary>A graph input or output's type: element type and dimensions, each a size or a symbolic name.</summary>
    public static ValueInfoProto Value(string valueName, TensorProto.Types.DataType elementType, string docString, params object[] dimensions)
    {
        var shape = new TensorShapeProto();
        foreach (var dimension in dimensions)
        {
            shape.Dim.Add(dimension switch
            {
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                int size => new TensorShapeProto.Types.Dimension { DimValue = size },
                _ => throw new ArgumentException($"Expected a dimension size or name, got {dimension}.", nameof(dimensions)),
            });
        }

        return new ValueInfoProto
        {
            Name = valueName,
            DocString = docString,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elementType, Shape = shape } },
        };
    }

    public static AttributeProto Int(string attributeName, long value) =>
        new() { Name = attributeName, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Text(string attributeName, string value) =>
        new() { Name = attributeName, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string attributeName, params long[] values)
    {
        var attribute = new AttributeProto { Name = attributeName, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Floats(string attributeName, params float[] values)
    {
        var attribute = new AttributeProto { Name = attributeName, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        return attribute;
    }

    public static AttributeProto Texts(string attributeName, params string[] values)
    {
        var attribute = new AttributeProto { Name = attributeName, Type = AttributeProto.Types.AttributeType.Strings };
        attribute.Strings.AddRange(values.Select(ByteString.CopyFromUtf8));
        return attribute;
    }

    // ONNX marks an optional input or output left out by the name ""; at the end of the list it is
    // simply not written.
    private static IEnumerable<string> WithoutTrailingOmissions(string[] names)
    {
        int count = names.Length;
        while (count > 0 && names[count - 1].Length == 0)
        {
            count--;
        }

        return names.Take(count);
    }

    private static void CheckCount(string tensorName, long[] shape, int count)
    {
        long expected = shape.Aggregate(1L, (product, dimension) => product * dimension);
        if (expected != count)
        {
            throw new ArgumentException($"Tensor '{tensorName}': shape [{string.Join(", ", shape)}] needs {expected} values, got {count}.");
        }
    }

    // ONNX raw_data is little-endian whatever the machine.
    private static byte[] LittleEndianBytes(ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            for (int i = 0; i < copy.Length; i += 4)
            {
                Array.Reverse(copy, i, 4);
            }
        }

        return copy;
    }
}
