using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Unroll.Tests;

/// <summary>
/// Which namespaces of an assembly use which, read from its compiled metadata: every type a type
/// names in its base type, interfaces, fields, method signatures, custom attributes and method
/// bodies (each IL instruction's type, method or field token). Compiler-generated types (lambdas,
/// iterators, async state machines) are nested in the type that wrote them and count as its code.
/// </summary>
internal static class NamespaceGraph
{
    private static readonly Dictionary<short, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(op => op.Value, op => op.OperandType);

    /// <summary>
    /// For each namespace of <paramref name="assemblyPath"/> under <paramref name="root"/>, the other such
    /// namespaces it uses, each with one type that shows the use. Sub-namespaces fold into their
    /// first level below the root (<c>Unroll.Kernels.Gemm</c> counts as <c>Unroll.Kernels</c>).
    /// </summary>
    public static Dictionary<string, Dictionary<string, string>> Read(string assemblyPath, string root)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var names = new TypeNames(reader, root);
        var graph = new Dictionary<string, Dictionary<string, string>>();

        foreach (var handle in reader.TypeDefinitions)
        {
            string? from = names.Group(handle);
            if (from is null)
            {
                continue;
            }

            string user = names.FullName(handle);
            var uses = new List<EntityHandle>();
            var type = reader.GetTypeDefinition(handle);
            if (!type.BaseType.IsNil)
            {
                uses.Add(type.BaseType);
            }

            uses.AddRange(type.GetInterfaceImplementations().Select(i => reader.GetInterfaceImplementation(i).Interface));
            foreach (var fieldHandle in type.GetFields())
            {
                names.AddSignature(reader.GetFieldDefinition(fieldHandle).Signature, from, user, graph, isField: true);
            }

            foreach (var methodHandle in type.GetMethods())
            {
                var method = reader.GetMethodDefinition(methodHandle);
                names.AddSignature(method.Signature, from, user, graph, isField: false);
                if (method.RelativeVirtualAddress != 0)
                {
                    uses.AddRange(BodyTokens(pe.GetMethodBody(method.RelativeVirtualAddress)));
                }
            }

            uses.AddRange(type.GetCustomAttributes().Select(a => reader.GetCustomAttribute(a).Constructor));
            foreach (var used in uses)
            {
                names.AddEntity(used, from, user, graph);
            }
        }

        return graph;
    }

    /// <summary>The namespaces that lie on a cycle, as one line per strongly connected group of two or more.</summary>
    public static List<string> Cycles(Dictionary<string, Dictionary<string, string>> graph)
    {
        // Tarjan's strongly connected components.
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var groups = new List<string>();
        int next = 0;

        void Visit(string node)
        {
            index[node] = low[node] = next++;
            stack.Push(node);
            onStack.Add(node);
            foreach (string target in graph.GetValueOrDefault(node)?.Keys ?? Enumerable.Empty<string>())
            {
                if (!index.ContainsKey(target))
                {
                    Visit(target);
                    low[node] = Math.Min(low[node], low[target]);
                }
                else if (onStack.Contains(target))
                {
                    low[node] = Math.Min(low[node], index[target]);
                }
            }

            if (low[node] == index[node])
            {
                var members = new List<string>();
                string member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    members.Add(member);
                }
                while (member != node);

                if (members.Count > 1)
                {
                    var inGroup = members.ToHashSet();
                    var edges = members.OrderBy(m => m, StringComparer.Ordinal).SelectMany(m => graph[m]
                        .Where(e => inGroup.Contains(e.Key))
                        .Select(e => $"{m} -> {e.Key} ({e.Value})"));
                    groups.Add(string.Join("; ", edges));
                }
            }
        }

        foreach (string node in graph.Keys.OrderBy(n => n, StringComparer.Ordinal))
        {
            if (!index.ContainsKey(node))
            {
                Visit(node);
            }
        }

        return groups;
    }

    // Every metadata token an IL method body's instructions carry (types, methods, fields, signatures).
    private static IEnumerable<EntityHandle> BodyTokens(MethodBodyBlock body)
    {
        var il = body.GetILReader();
        var handles = new List<EntityHandle>();
        while (il.RemainingBytes > 0)
        {
            short code = il.ReadByte();
            if (code == 0xFE)
            {
                code = unchecked((short)(0xFE00 | il.ReadByte()));
            }

            if (!OperandTypes.TryGetValue(code, out var operandType))
            {
                throw new InvalidOperationException($"unknown IL opcode 0x{code:X} at offset {il.Offset - 1} of a {body.Size}-byte body: {Convert.ToHexString(body.GetILBytes() ?? [])}");
            }

            switch (operandType)
            {
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget:
                case OperandType.ShortInlineI:
                case OperandType.ShortInlineVar:
                    il.Offset += 1;
                    break;
                case OperandType.InlineVar:
                    il.Offset += 2;
                    break;
                case OperandType.InlineI8:
                case OperandType.InlineR:
                    il.Offset += 8;
                    break;
                case OperandType.InlineSwitch:
                    int targets = il.ReadInt32(); // read before Offset: `Offset += 4 * ReadInt32()` would read Offset first
                    il.Offset += 4 * targets;
                    break;
                case OperandType.InlineField:
                case OperandType.InlineMethod:
                case OperandType.InlineTok:
                case OperandType.InlineType:
                    handles.Add(MetadataTokens.EntityHandle(il.ReadInt32()));
                    break;
                default: // InlineBrTarget, InlineI, InlineString, InlineSig, ShortInlineR
                    il.Offset += 4;
                    break;
            }
        }

        if (!body.LocalSignature.IsNil)
        {
            handles.Add(body.LocalSignature);
        }

        return handles;
    }

    private sealed class TypeNames(MetadataReader reader, string root)
    {
        private readonly SignatureTypes _signatures = new(reader);

        public string FullName(TypeDefinitionHandle handle)
        {
            var type = reader.GetTypeDefinition(handle);
            var declaring = type.GetDeclaringType();
            return declaring.IsNil
                ? $"{reader.GetString(type.Namespace)}.{reader.GetString(type.Name)}"
                : $"{FullName(declaring)}+{reader.GetString(type.Name)}";
        }

        // The namespace group a type of this assembly belongs to (nested types belong to their outermost type's), or null outside the root.
        public string? Group(TypeDefinitionHandle handle)
        {
            var type = reader.GetTypeDefinition(handle);
            while (!type.GetDeclaringType().IsNil)
            {
                type = reader.GetTypeDefinition(type.GetDeclaringType());
            }

            return GroupOf(reader.GetString(type.Namespace));
        }

        public void AddSignature(BlobHandle signature, string from, string user, Dictionary<string, Dictionary<string, string>> graph, bool isField)
        {
            var blob = reader.GetBlobReader(signature);
            var decoder = new SignatureDecoder<IEnumerable<EntityHandle>, object?>(_signatures, reader, null);
            var found = isField
                ? decoder.DecodeFieldSignature(ref blob)
                : DecodeMethod(decoder, ref blob);
            foreach (var used in found)
            {
                AddEntity(used, from, user, graph);
            }
        }

        public void AddEntity(EntityHandle used, string from, string user, Dictionary<string, Dictionary<string, string>> graph)
        {
            foreach (var typeHandle in TypesOf(used))
            {
                string? to = Group(typeHandle);
                if (to is null || to == from)
                {
                    continue;
                }

                if (!graph.TryGetValue(from, out var targets))
                {
                    graph[from] = targets = [];
                }

                targets.TryAdd(to, $"{user} uses {FullName(typeHandle)}");
            }
        }

        private static IEnumerable<EntityHandle> DecodeMethod(SignatureDecoder<IEnumerable<EntityHandle>, object?> decoder, ref BlobReader blob)
        {
            var method = decoder.DecodeMethodSignature(ref blob);
            return method.ParameterTypes.SelectMany(p => p).Concat(method.ReturnType);
        }

        // The type definitions of this assembly that an entity names (a member's declaring type, a signature's types).
        private IEnumerable<TypeDefinitionHandle> TypesOf(EntityHandle handle)
        {
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition:
                    return [(TypeDefinitionHandle)handle];
                case HandleKind.FieldDefinition:
                    var field = reader.GetFieldDefinition((FieldDefinitionHandle)handle);
                    return TypesOf(field.GetDeclaringType()).Concat(DecodeField(field.Signature));
                case HandleKind.MethodDefinition:
                    var method = reader.GetMethodDefinition((MethodDefinitionHandle)handle);
                    return TypesOf(method.GetDeclaringType());
                case HandleKind.MemberReference:
                    var member = reader.GetMemberReference((MemberReferenceHandle)handle);
                    return TypesOf(member.Parent);
                case HandleKind.MethodSpecification:
                    var specification = reader.GetMethodSpecification((MethodSpecificationHandle)handle);
                    var arguments = reader.GetBlobReader(specification.Signature);
                    var decoded = new SignatureDecoder<IEnumerable<EntityHandle>, object?>(_signatures, reader, null).DecodeMethodSpecificationSignature(ref arguments);
                    return TypesOf(specification.Method).Concat(decoded.SelectMany(a => a).SelectMany(TypesOf));
                case HandleKind.TypeSpecification:
                    var spec = reader.GetTypeSpecification((TypeSpecificationHandle)handle);
                    var specBlob = reader.GetBlobReader(spec.Signature);
                    var types = new SignatureDecoder<IEnumerable<EntityHandle>, object?>(_signatures, reader, null).DecodeType(ref specBlob);
                    return types.SelectMany(TypesOf);
                case HandleKind.StandaloneSignature:
                    var standalone = reader.GetStandaloneSignature((StandaloneSignatureHandle)handle);
                    if (standalone.GetKind() != StandaloneSignatureKind.LocalVariables)
                    {
                        return [];
                    }

                    var localBlob = reader.GetBlobReader(standalone.Signature);
                    var locals = new SignatureDecoder<IEnumerable<EntityHandle>, object?>(_signatures, reader, null).DecodeLocalSignature(ref localBlob);
                    return locals.SelectMany(l => l).SelectMany(TypesOf);
                default:
                    return [];
            }
        }

        private IEnumerable<TypeDefinitionHandle> DecodeField(BlobHandle signature)
        {
            var blob = reader.GetBlobReader(signature);
            return new SignatureDecoder<IEnumerable<EntityHandle>, object?>(_signatures, reader, null).DecodeFieldSignature(ref blob).SelectMany(TypesOf);
        }

        private string? GroupOf(string ns)
        {
            if (ns == root)
            {
                return root;
            }

            if (!ns.StartsWith(root + ".", StringComparison.Ordinal))
            {
                return null;
            }

            int end = ns.IndexOf('.', root.Length + 1);
            return end < 0 ? ns : ns[..end];
        }
    }

    // Decodes a signature into the type handles it mentions (definitions, references and specifications).
    private sealed class SignatureTypes(MetadataReader reader) : ISignatureTypeProvider<IEnumerable<EntityHandle>, object?>
    {
        public IEnumerable<EntityHandle> GetArrayType(IEnumerable<EntityHandle> elementType, ArrayShape shape) => elementType;

        public IEnumerable<EntityHandle> GetByReferenceType(IEnumerable<EntityHandle> elementType) => elementType;

        public IEnumerable<EntityHandle> GetFunctionPointerType(MethodSignature<IEnumerable<EntityHandle>> signature)
            => signature.ParameterTypes.SelectMany(p => p).Concat(signature.ReturnType);

        public IEnumerable<EntityHandle> GetGenericInstantiation(IEnumerable<EntityHandle> genericType, ImmutableArray<IEnumerable<EntityHandle>> typeArguments)
            => genericType.Concat(typeArguments.SelectMany(a => a));

        public IEnumerable<EntityHandle> GetGenericMethodParameter(object? genericContext, int index) => [];

        public IEnumerable<EntityHandle> GetGenericTypeParameter(object? genericContext, int index) => [];

        public IEnumerable<EntityHandle> GetModifiedType(IEnumerable<EntityHandle> modifier, IEnumerable<EntityHandle> unmodifiedType, bool isRequired) => unmodifiedType;

        public IEnumerable<EntityHandle> GetPinnedType(IEnumerable<EntityHandle> elementType) => elementType;

        public IEnumerable<EntityHandle> GetPointerType(IEnumerable<EntityHandle> elementType) => elementType;

        public IEnumerable<EntityHandle> GetPrimitiveType(PrimitiveTypeCode typeCode) => [];

        public IEnumerable<EntityHandle> GetSZArrayType(IEnumerable<EntityHandle> elementType) => elementType;

        public IEnumerable<EntityHandle> GetTypeFromDefinition(MetadataReader metadata, TypeDefinitionHandle handle, byte rawTypeKind) => [handle];

        public IEnumerable<EntityHandle> GetTypeFromReference(MetadataReader metadata, TypeReferenceHandle handle, byte rawTypeKind) => [];

        public IEnumerable<EntityHandle> GetTypeFromSpecification(MetadataReader metadata, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind)
        {
            var blob = reader.GetBlobReader(reader.GetTypeSpecification(handle).Signature);
            return new SignatureDecoder<IEnumerable<EntityHandle>, object?>(this, reader, genericContext).DecodeType(ref blob);
        }
    }
}
