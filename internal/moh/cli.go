package moh

import (
	"context"
	"fmt"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

const (
	usageShowClasses = "Usage: moh show classes\n" +
		"       Lists all MusicOnHold classes.\n"
	usageShowFiles = "Usage: moh show files\n" +
		"       Lists all loaded file-based MusicOnHold classes and their\n" +
		"       files.\n"
	usageReload = "Usage: moh reload\n" +
		"       Reloads the MusicOnHold module.\n" +
		"       Alias for 'module reload res_musiconhold.so'\n"
)

// Commands returns "moh show classes", "moh show files" and "moh reload"; reload is what
// "moh reload" runs (the module's reload: musiconhold.conf read again, directories scanned
// again).
func (r *Registry) Commands(reload func(ctx context.Context) error) []*cli.Command {
	return []*cli.Command{
		{Words: []string{"moh", "show", "classes"}, Summary: "List MusicOnHold classes", Usage: usageShowClasses,
			Handler: func(_ context.Context, a *cli.Args) error {
				if len(a.Rest) != 0 {
					return cli.ErrUsage
				}
				r.ShowClasses(a)
				return nil
			}},
		{Words: []string{"moh", "show", "files"}, Summary: "List MusicOnHold file-based classes", Usage: usageShowFiles,
			Handler: func(_ context.Context, a *cli.Args) error {
				if len(a.Rest) != 0 {
					return cli.ErrUsage
				}
				r.ShowFiles(a)
				return nil
			}},
		{Words: []string{"moh", "reload"}, Summary: "Reload MusicOnHold", Usage: usageReload,
			Handler: func(ctx context.Context, a *cli.Args) error {
				if len(a.Rest) != 0 {
					return cli.ErrUsage
				}
				return reload(ctx)
			}},
	}
}

// ShowClasses writes "moh show classes" as res_musiconhold: per class "Class:", then
// tab-indented Mode, Directory, Announcement when set, Format for a playlist.
func (r *Registry) ShowClasses(a *cli.Args) {
	for _, c := range r.cfg.Load().Classes {
		fmt.Fprintf(a.Out, "Class: %s\n", c.Name)
		fmt.Fprintf(a.Out, "\tMode: %s\n", orNone(c.Mode))
		fmt.Fprintf(a.Out, "\tDirectory: %s\n", orNone(c.Directory))
		if c.Announcement != "" {
			fmt.Fprintf(a.Out, "\tAnnouncement: %s\n", c.Announcement)
		}
		if c.Mode != "files" {
			// Asterisk prints the format of every class not in files mode (a playlist's
			// is signed linear).
			fmt.Fprintf(a.Out, "\tFormat: %s\n", "slin")
		}
	}
}

// ShowFiles writes "moh show files": per class with files, "Class:" and a "File:" line per
// file (its path without extension, in play order).
func (r *Registry) ShowFiles(a *cli.Args) {
	for _, c := range r.cfg.Load().Classes {
		if len(c.Files) == 0 {
			continue
		}
		fmt.Fprintf(a.Out, "Class: %s\n", c.Name)
		for _, f := range c.Files {
			fmt.Fprintf(a.Out, "\tFile: %s\n", f)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
