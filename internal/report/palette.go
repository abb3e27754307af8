package report

import (
	"hash/fnv"
	"image/color"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Style is how one runtime is drawn in every chart of every report: its colour comes
// from its class's hue family (process blue, container green, sandbox orange, VM red
// and purple) and, within it, from its name, so a runtime looks the same in every run.
// Dashes and glyphs differ between runtimes of one class too, so that lines lying on
// each other (runc and crun) stay apart, also in greyscale print.
type Style struct {
	Color  color.Color
	Dashes []vg.Length
	Glyph  draw.GlyphDrawer
	// Emulated results are drawn pale and dotted with hollow glyphs.
	Emulated bool
}

func rgb(hex uint32) color.RGBA {
	return color.RGBA{uint8(hex >> 16), uint8(hex >> 8), uint8(hex), 0xff}
}

var classShades = map[string][]color.RGBA{
	"process":   {rgb(0x2166ac), rgb(0x4393c3), rgb(0x053061), rgb(0x5e3c99)},
	"container": {rgb(0x1b7837), rgb(0x66a61e), rgb(0x35978f), rgb(0x01665e), rgb(0x4d9221), rgb(0x2ca25f), rgb(0x00441b), rgb(0x7fbc41)},
	"sandbox":   {rgb(0xd95f02), rgb(0xb35806), rgb(0xe6ab02), rgb(0xa6761d), rgb(0xf16913), rgb(0x8c510a)},
	"vm":        {rgb(0xb2182b), rgb(0x762a83), rgb(0xd6604d), rgb(0x9e0142), rgb(0xc51b7d), rgb(0x542788)},
	"":          {rgb(0x555555), rgb(0x888888), rgb(0x333333)},
}

// knownRuntimes fixes the shade of isobench's built-in profiles, so that those most
// often side by side never share one.
var knownRuntimes = map[string]int{
	"host": 0,
	"runc": 0, "crun": 1, "docker-runc": 2, "docker-crun": 3, "containerd-runc": 4, "containerd-crun": 5,
	"podman-runc": 6, "podman-crun": 7, "docker": 2, "containerd": 4, "podman": 6,
	"runsc": 0, "runsc-debian": 1, "docker-runsc": 2, "containerd-runsc": 3, "podman-runsc": 4, "runsc-kvm": 5, "runsc-systrap": 1,
	"qemu-microvm": 0, "firecracker": 1, "cloud-hypervisor": 2, "docker-kata": 3, "containerd-kata": 4, "firecracker-containerd": 5,
}

var dashPatterns = [][]vg.Length{
	nil,
	{vg.Points(6), vg.Points(3)},
	{vg.Points(2), vg.Points(2)},
	{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)},
}

var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}, draw.CrossGlyph{}}

var hollowGlyphs = []draw.GlyphDrawer{draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}}

// RuntimeStyle is the style of runtime name of class (process, container, sandbox, vm).
func RuntimeStyle(name, class string, emulated bool) Style {
	shades, ok := classShades[class]
	if !ok {
		shades = classShades[""]
	}
	i, known := knownRuntimes[name]
	if !known {
		h := fnv.New32a()
		h.Write([]byte(name))
		i = int(h.Sum32() % 1024)
	}
	c := shades[i%len(shades)]
	s := Style{Color: c, Dashes: dashPatterns[i%len(dashPatterns)], Glyph: glyphs[i%len(glyphs)]}
	if emulated {
		s.Emulated = true
		s.Color = pale(c)
		s.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
		s.Glyph = hollowGlyphs[i%len(hollowGlyphs)]
	}
	return s
}

// pale mixes c halfway with white.
func pale(c color.RGBA) color.RGBA {
	return color.RGBA{c.R/2 + 0x80, c.G/2 + 0x80, c.B/2 + 0x80, 0xff}
}
