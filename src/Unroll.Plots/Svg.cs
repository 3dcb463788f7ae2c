namespace Unroll.Plots; /// <summary>Placeholder.</summary>
public static class Svg { }
