using System.Globalization;
using System.Net;
using System.Text;
using SimilarFaces.Model;

namespace SimilarFaces.Cli;

/// <summary>
/// `eval --out`'s report.html: one self-contained page (the pictures inlined as data URIs, no script or style
/// fetched from anywhere) with the metrics, the ROC, the distance histograms, the pair grid and the model's
/// metadata. Each metric's element carries its exact value in data-value, as `--json` writes it; the page marks
/// its body with data-images-loaded="loaded/total" once the browser has drawn the pictures to their last row.
/// </summary>
public static class EvalReport
{
    public const string File = "report.html";

    public static void Write(string directory, VerificationReport report, string model, IReadOnlyList<string> data,
        int images, int identities, BatchNormInference mode, IReadOnlyDictionary<string, string> metadata)
    {
        static string Html(string text) => WebUtility.HtmlEncode(text);
        static string Exact(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var page = new StringBuilder();
        page.Append($$"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>similar-faces eval: {{Html(Path.GetFileName(model))}}</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
            table { border-collapse: collapse; } td, th { padding: 0.2em 1em; border-bottom: 1px solid #ddd; text-align: left; }
            td.value { text-align: right; font-variant-numeric: tabular-nums; }
            img { max-width: 100%; border: 1px solid #eee; } pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
            </style></head>
            <body data-images-loaded="0/3">
            <h1>Face verification: {{Html(Path.GetFileName(model))}}</h1>
            <p>Model <code>{{Html(model)}}</code> on {{Html(string.Join(", ", data))}}: {{images}} images of {{identities}} people,
            every pair compared; BatchNorm at inference: {{mode}}.</p>
            <h2>Metrics</h2>
            <table>

            """);
        void Row(string id, string label, double value, string shown) =>
            page.Append(CultureInfo.InvariantCulture, $"<tr><th>{label}</th><td class=\"value\" id=\"{id}\" data-value=\"{Exact(value)}\">{shown}</td></tr>\n");
        Row("pairs", "pairs (same / different)", report.Pairs, $"{report.Pairs} ({report.SamePairs} / {report.DifferentPairs})");
        Row("auc", "ROC AUC", report.Auc, report.Auc.ToString("F4", CultureInfo.InvariantCulture));
        Row("eer", "equal error rate", report.Eer, report.Eer.ToString("P2", CultureInfo.InvariantCulture));
        Row("threshold", "threshold at the EER", report.EerThreshold, report.EerThreshold.ToString("F4", CultureInfo.InvariantCulture));
        Row("accuracy", "accuracy at that threshold", report.AccuracyAtEer, report.AccuracyAtEer.ToString("P2", CultureInfo.InvariantCulture));
        Row("best_accuracy", "best accuracy", report.BestAccuracy, report.BestAccuracy.ToString("P2", CultureInfo.InvariantCulture));
        Row("best_threshold", "at threshold", report.BestThreshold, report.BestThreshold.ToString("F4", CultureInfo.InvariantCulture));
        page.Append("</table>\n");
        foreach (var (title, file) in new[] { ("ROC", EvalPictures.RocFile), ("Distances", EvalPictures.HistogramFile), ("Pairs", EvalPictures.PairsFile) })
        {
            var png = Convert.ToBase64String(System.IO.File.ReadAllBytes(Path.Combine(directory, file)));
            page.Append($"<h2>{title}</h2>\n<img alt=\"{file}\" src=\"data:image/png;base64,{png}\">\n");
        }
        page.Append("<h2>Model metadata</h2>\n<table>\n");
        foreach (var (key, value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
            page.Append($"<tr><th>{Html(key)}</th><td><pre>{Html(value)}</pre></td></tr>\n");
        page.Append("""
            </table>
            <script>
            // a picture counts as loaded when its last row has been drawn: one cut short leaves that row empty
            window.addEventListener("load", () => {
              const images = [...document.images];
              const loaded = images.filter(image => {
                if (!image.complete || image.naturalWidth === 0) return false;
                const canvas = document.createElement("canvas");
                canvas.width = image.naturalWidth;
                canvas.height = image.naturalHeight;
                const context = canvas.getContext("2d");
                context.drawImage(image, 0, 0);
                const lastRow = context.getImageData(0, canvas.height - 1, canvas.width, 1).data;
                return lastRow.some((value, k) => k % 4 === 3 && value > 0);
              }).length;
              document.body.dataset.imagesLoaded = loaded + "/" + images.length;
            });
            </script>
            </body></html>

            """);
        SimilarFaces.Engine.IO.Atomic.WriteAllText(Path.Combine(directory, File), page.ToString());
    }
}
