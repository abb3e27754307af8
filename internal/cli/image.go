package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/image"
)

func init() { addCommand(newImageCmd) }

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, import, list and remove benchmark images",
		Long: `Images live in an OCI image layout under the home directory (--home). Every runtime
runs the same image: "default" is built with debootstrap and holds the benchmark tools.`,
		Example: `  isobench image build
  isobench image import alpine.tar --name alpine
  isobench image ls`,
	}
	cmd.AddCommand(newImageBuildCmd(), newImageImportCmd(), newImageListCmd(), newImageRemoveCmd())
	return cmd
}

// imageSignalContext returns a context cancelled by Ctrl-C or SIGTERM, so that builds and
// imports remove their temporary files before exiting.
func imageSignalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// imageError turns the store's input errors into bad-input errors (exit status 2).
func imageError(err error) error {
	for _, userErr := range []error{image.ErrNotFound, image.ErrBadName, image.ErrAmbiguous, image.ErrUnknownFormat, image.ErrNoSource,
		image.ErrBadOption, image.ErrUnsafeContent, image.ErrTooLarge, image.ErrDigestMismatch, image.ErrHome} {
		if errors.Is(err, userErr) {
			return badInput("%v", err)
		}
	}
	return err
}

// interruptedOr is exit status 130 when a signal stopped the image job (its temporary
// files are gone, the store is as before), else err.
func interruptedOr(ctx context.Context, job string, err error) error {
	if ctx.Err() != nil {
		return &ExitError{Code: 130, Err: fmt.Errorf("image %s interrupted: nothing was added to the store", job)}
	}
	return err
}

func openImageStore() (*image.Store, error) {
	s, err := image.Open(image.Home(global.home))
	if err != nil {
		return nil, imageError(err)
	}
	return s, nil
}

func newImageBuildCmd() *cobra.Command {
	var opts image.BuildOptions
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the default benchmark image with debootstrap (needs root, 1-2 minutes)",
		Long: `Build a Debian image with debootstrap (minbase variant) and the benchmark tools. The
image is cached by its recipe (suite, mirror, packages): building again with the same
recipe reuses it unless --force is given.`,
		Example: `  isobench image build
  isobench image build --force
  isobench image build --suite trixie --mirror http://deb.debian.org/debian --package sysbench --package fio`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := opts.Resolved(); err != nil {
				return imageError(err)
			}
			if os.Geteuid() != 0 {
				return badInput("image build needs root (debootstrap): run it as root")
			}
			store, err := openImageStore()
			if err != nil {
				return err
			}
			ctx, stop := imageSignalContext(cmd)
			defer stop()
			start := time.Now()
			img, built, err := store.Build(ctx, opts, cmd.ErrOrStderr())
			if err != nil {
				return interruptedOr(ctx, "build", imageError(err))
			}
			out := cmd.OutOrStdout()
			if built {
				fmt.Fprintf(out, "built image %s %s (%s) in %s\n", img.Name, img.ShortDigest(), image.FormatBytes(img.Size), time.Since(start).Round(time.Second))
			} else {
				fmt.Fprintf(out, "image %s %s is up to date (same recipe); use --force to rebuild\n", img.Name, img.ShortDigest())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", image.DefaultName, "name of the image")
	f.StringVar(&opts.Suite, "suite", image.DefaultSuite, "Debian release to bootstrap")
	f.StringVar(&opts.Mirror, "mirror", "", "Debian mirror URL (default: the host's apt sources, else "+image.FallbackMirror+")")
	f.StringArrayVar(&opts.Packages, "package", nil, "package to install, repeatable (default: the benchmark tools)")
	f.BoolVar(&opts.Force, "force", false, "rebuild even if an image of the same recipe exists")
	return cmd
}

func newImageImportCmd() *cobra.Command {
	var name, maxSize string
	var maxEntries int64
	cmd := &cobra.Command{
		Use:   "import SRC",
		Short: "Import an image from a docker archive, an OCI layout or a root filesystem",
		Long: "Import an image into the store. SRC may be " + image.Formats + `.
The format is detected from the content. Every archive is treated as hostile: member
paths that leave the tree, links to outside it, writing through a link, blobs or
layers that do not match their digests, and content beyond --max-size or
--max-entries are refused before anything is stored. Unpacked trees leave out
setuid/setgid bits, file capabilities and device nodes (runtimes provide /dev).`,
		Example: `  docker save alpine:3.20 -o alpine.tar && isobench image import alpine.tar
  isobench image import ./oci-layout-dir --name myimage
  isobench image import rootfs.tar.gz --name minimal`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput("image import takes one source (file or directory), got %d arguments: see `isobench image import --help`", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if name != "" {
				if err := image.CheckName(name); err != nil {
					return badInput("--name: %v", err)
				}
			}
			lim := image.DefaultLimits
			if maxSize != "" {
				n, err := parseSize(maxSize)
				if err != nil || n > 1<<50 {
					return badInput("--max-size %q: give a size like 4GiB or 512MiB", maxSize)
				}
				lim.MaxBytes = int64(n)
			}
			if cmd.Flags().Changed("max-entries") {
				if maxEntries <= 0 {
					return badInput("--max-entries %d: give a positive number of archive members", maxEntries)
				}
				lim.MaxEntries = maxEntries
			}
			if _, err := os.Stat(args[0]); err != nil {
				return badInput("cannot read %s: %v: give an existing file or directory", args[0], errors.Unwrap(err))
			}
			store, err := openImageStore()
			if err != nil {
				return err
			}
			store.Limits = lim
			ctx, stop := imageSignalContext(cmd)
			defer stop()
			img, err := store.Import(ctx, args[0], name)
			if img != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "imported image %s %s (%s) from %s\n", img.Name, img.ShortDigest(), image.FormatBytes(img.Size), img.Source)
			}
			if err != nil {
				return interruptedOr(ctx, "import", imageError(err))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "name for the image, "+image.NameGrammar+" (default: from the source's base name)")
	f.StringVar(&maxSize, "max-size", "", "most uncompressed data the image's archives and layers may hold, like 4GiB (default "+image.FormatBytes(image.DefaultMaxBytes)+")")
	f.Int64Var(&maxEntries, "max-entries", image.DefaultMaxEntries, "most archive members the image's layers may hold")
	return cmd
}

func newImageListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images in the store",
		Example: `  isobench image ls
  isobench --home /tmp/isobench image ls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := openImageStore()
			if err != nil {
				return err
			}
			images, err := store.List()
			if err != nil {
				return err
			}
			if len(images) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), `no images: build one with "isobench image build" (as root) or import one with "isobench image import"`)
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE\tCREATED\tSOURCE")
			for _, img := range images {
				created := "-"
				if !img.Created.IsZero() {
					created = img.Created.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", img.Name, img.ShortDigest(), image.FormatBytes(img.Size), created, img.Source)
			}
			return tw.Flush()
		},
	}
}

func newImageRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove images and their unpacked root filesystems",
		Long: `Remove images by name (or by a digest only one name has). When other names share the
image, only the name goes; otherwise the image, its blobs and its unpacked root filesystem go.
Each removal prints exactly which of these it removed.`,
		Example: `  isobench image rm busybox
  isobench image rm 3f2a9c`,
		Args: atLeastOneArg("image rm needs an image name: see `isobench image ls`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := openImageStore()
			if err != nil {
				return err
			}
			for _, name := range args {
				r, err := store.Remove(name)
				if r != nil {
					fmt.Fprintln(cmd.OutOrStdout(), r)
				}
				if err != nil {
					return imageError(err)
				}
			}
			return nil
		},
	}
}
