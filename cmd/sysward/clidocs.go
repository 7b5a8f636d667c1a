package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

//go:generate go run -tags sysward_gendocs . ../../docs/cli.md ../../sysward.1

// cliDocs renders the CLI reference from app's command definitions (newApp's
// for the committed copies): Markdown for docs/cli.md and a section 1 man
// page for sysward.1. TestCLIDocsUpToDate compares them with the committed
// copies, so a flag added without `make generate` fails there.
func cliDocs(app *cli.App) (markdown, man string, err error) {
	header := "<!-- Generated from cmd/sysward by `make generate`; do not edit. -->\n\n"
	if markdown, err = app.ToMarkdown(); err != nil {
		return "", "", fmt.Errorf("rendering markdown: %w", err)
	}
	if man, err = app.ToManWithSection(1); err != nil {
		return "", "", fmt.Errorf("rendering man page: %w", err)
	}
	return header + markdown, man, nil
}

// writeCLIDocs writes cliDocs's output to mdPath and manPath, each through a
// temporary file renamed into place, so a failure leaves no half-written copy.
func writeCLIDocs(mdPath, manPath string) error {
	md, man, err := cliDocs(newApp())
	if err != nil {
		return err
	}
	for _, f := range []struct{ path, text string }{{mdPath, md}, {manPath, man}} {
		tmp, err := os.CreateTemp(filepath.Dir(f.path), ".clidocs-*")
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		_, werr := tmp.WriteString(f.text)
		cerr := tmp.Close()
		if werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Chmod(tmp.Name(), 0o644)
		}
		if werr == nil {
			werr = os.Rename(tmp.Name(), f.path)
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", f.path, werr)
		}
	}
	return nil
}
