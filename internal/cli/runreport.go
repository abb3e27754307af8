package cli

import (
	"context"
	"path/filepath"

	"github.com/isobench/isobench/internal/report"
)

// writeRunReport writes the report of a finished run into its report/ folder and
// returns the path of its HTML page.
func writeRunReport(ctx context.Context, dir, baseline string) (string, error) {
	sum, err := report.Write(ctx, []string{dir}, filepath.Join(dir, "report"), report.Options{Baseline: baseline})
	if err != nil {
		return "", err
	}
	return sum.HTML, nil
}
