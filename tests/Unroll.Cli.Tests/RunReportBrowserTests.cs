using System.Globalization;
using Microsoft.Playwright;
using Unroll.Plots;
using Xunit.Abstractions;

namespace Unroll.Cli.Tests;

/// <summary>
/// report.html opened in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright's
/// bundled driver, which runs offline): no console or page error, no request leaving the page,
/// every plot drawn with a visible size, the title and the configuration on screen. Without
/// Chromium the tests report that they did not run, unless UNROLL_REQUIRE_CHROMIUM=1, which
/// .ci/run sets when it has Chromium, so that CI cannot silently skip them.
/// </summary>
public class RunReportBrowserTests(TrainedRun run, HeadlessChromium chromium, ITestOutputHelper log) : IClassFixture<TrainedRun>, IClassFixture<HeadlessChromium>
{
    private const string Chromium = HeadlessChromium.Executable;

    [Fact]
    public async Task ReportOfARealRunRendersInChromium()
    {
        if (!ChromiumAvailable())
        {
            return;
        }

        var page = await OpenAsync(Path.Combine(run.Directory, "report.html"));
        try
        {
            Assert.Equal("Unroll run report: run", await page.Page.TitleAsync());
            Assert.True(await page.Page.Locator("h1#title").IsVisibleAsync());
            // unroll train writes the diagnostics columns, which get one plot of the report's own.
            await AssertEveryPlotDrawnAsync(page.Page, run.Directory, generated: 1);
            var model = page.Page.Locator("#config-model");
            Assert.True(await model.IsVisibleAsync());
            Assert.Contains("hiddenSize\t6", await model.InnerTextAsync(), StringComparison.Ordinal);
            Assert.True(await page.Page.Locator("#summary-table").IsVisibleAsync());
            page.AssertClean();
        }
        finally
        {
            await page.DisposeAsync();
        }
    }

    [Fact]
    public async Task ReportWithDiagnosticsPlotsAndColumnsRendersInChromium()
    {
        if (!ChromiumAvailable())
        {
            return;
        }

        using var temp = new TempDirectory();
        string directory = run.CopyTo(temp.File("run"));
        // Two more plots of the kind other tools might leave (charts from Unroll.Plots), and diagnostics on every 5th step.
        var angles = Enumerable.Range(0, 6).Select(k => k * Math.PI / 3).ToList();
        File.WriteAllText(Path.Combine(directory, "extra-eigenvalues.svg"), new Chart { Title = "Eigenvalues", EqualAspect = true }
            .AddScatter("W_hh", angles.Select(a => 0.9 * Math.Cos(a)).ToList(), angles.Select(a => 0.9 * Math.Sin(a)).ToList())
            .AddCircle(0, 0, 1, "unit circle").ToSvg());
        File.WriteAllText(Path.Combine(directory, "extra-flow.svg"), new Chart { Title = "Gradient flow", LogY = true }
            .AddLine("||dL/dh_t||", [1, 2, 3, 4], [1e-4, 1e-3, 1e-2, 1e-1]).ToSvg());
        var lines = File.ReadAllLines(Path.Combine(directory, "metrics.csv")).ToList();
        Assert.EndsWith(",spectral_radius,largest_singular_value,clipped_share,gradient_ratio,validation_accuracy", lines[0], StringComparison.Ordinal);
        for (int i = 1; i < lines.Count; i++)
        {
            var cells = lines[i].Split(',');
            string diagnostics = i % 5 == 0 ? string.Create(CultureInfo.InvariantCulture, $"{0.8 + (i / 100.0)},{1.1 + (i / 100.0)},0,{Math.Pow(2, -i / 5.0)}") : ",,,";
            lines[i] = string.Join(',', cells.Take(5)) + "," + diagnostics + ",";
        }

        File.WriteAllLines(Path.Combine(directory, "metrics.csv"), lines);
        Assert.Equal(0, CliRunner.Run("report", directory).ExitCode);

        var page = await OpenAsync(Path.Combine(directory, "report.html"));
        try
        {
            await AssertEveryPlotDrawnAsync(page.Page, directory, generated: 1);
            Assert.True(await page.Page.Locator("#diagnostics-table").IsVisibleAsync());
            Assert.Equal(6, await page.Page.Locator("#diagnostics-table tbody tr").CountAsync());
            page.AssertClean();
        }
        finally
        {
            await page.DisposeAsync();
        }
    }

    private bool ChromiumAvailable()
    {
        if (File.Exists(Chromium))
        {
            return true;
        }

        Assert.True(Environment.GetEnvironmentVariable("UNROLL_REQUIRE_CHROMIUM") != "1",
            $"UNROLL_REQUIRE_CHROMIUM=1 but {Chromium} is missing (apt-get install chromium).");
        log.WriteLine($"not run: {Chromium} is not installed (apt-get install chromium).");
        return false;
    }

    /// <summary>One root &lt;svg&gt; per SVG file plus the report's own charts, each laid out with a nonzero box.</summary>
    private static async Task AssertEveryPlotDrawnAsync(IPage page, string directory, int generated)
    {
        int files = Directory.GetFiles(directory, "*.svg").Length;
        Assert.True(files >= 2, $"expected at least loss.svg and forecast.svg in {directory}");
        Assert.Equal(files, await page.Locator("figure.plot[data-file] > svg").CountAsync());
        Assert.Equal(files + generated, await page.EvaluateAsync<int>("document.querySelectorAll('svg:not(svg svg)').length"));
        var roots = page.Locator("svg:not(svg svg)");
        for (int i = 0; i < files + generated; i++)
        {
            var box = await roots.Nth(i).BoundingBoxAsync();
            Assert.NotNull(box);
            Assert.True(box.Width > 100 && box.Height > 50, $"svg {i} is laid out at {box.Width} x {box.Height}");
        }
    }

    private async Task<OpenedPage> OpenAsync(string path)
    {
        var browser = await chromium.BrowserAsync();
        var opened = new OpenedPage(await browser.NewPageAsync());
        opened.Page.Console += (_, message) =>
        {
            if (message.Type is "error" or "warning")
            {
                opened.Problems.Add($"console {message.Type}: {message.Text}");
            }
        };
        opened.Page.PageError += (_, error) => opened.Problems.Add($"page error: {error}");
        opened.Page.Request += (_, request) =>
        {
            if (!request.Url.StartsWith("file://", StringComparison.Ordinal))
            {
                opened.Problems.Add($"request leaving the page: {request.Url}");
            }
        };
        var response = await opened.Page.GotoAsync(new Uri(path).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        Assert.NotNull(response);
        return opened;
    }

    private sealed class OpenedPage(IPage page) : IAsyncDisposable
    {
        public IPage Page { get; } = page;

        public List<string> Problems { get; } = [];

        public void AssertClean() => Assert.True(Problems.Count == 0, string.Join("\n", Problems));

        public ValueTask DisposeAsync() => new(Page.CloseAsync());
    }
}

/// <summary>One headless Chromium for the tests of a class, started on first use (never when Chromium is absent).</summary>
public sealed class HeadlessChromium : IAsyncLifetime
{
    /// <summary>Debian's Chromium; Playwright's own browser downloads are never used.</summary>
    public const string Executable = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public async Task<IBrowser> BrowserAsync()
    {
        if (_browser is null)
        {
            _playwright = await Playwright.CreateAsync();
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Executable,
                Headless = true,
                Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            });
        }

        return _browser;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}
