package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// writeChart draws one bar per first run (job × size × workers): achieved
// records/s as a percentage of the budget's records/s, with the 100% budget
// line across. golang.org/x/image's basicfont labels it; a plotting library
// (gonum/plot) would pull in a dozen modules for one bar chart.
func writeChart(path string, steps []Step) error {
	var bars []Step
	for _, s := range steps {
		if s.Run == "first" && s.BudgetRecPerS > 0 {
			bars = append(bars, s)
		}
	}
	const (
		barW, gap, left, top, bottom = 22, 10, 60, 40, 110
		plotH                        = 300
		charW                        = 7 // basicfont.Face7x13
		title                        = "Achieved records/s as % of budget records/s (first runs; 1 worker blue, 4 workers orange)"
		legend                       = "sync=sync-leads imp=import eng=engagement int=interest trg=trigger-campaign"
	)
	// Wide enough for the bars and for the title and legend lines.
	width := max(left+len(bars)*(barW+gap)+40, 20+charW*len(title), left+20+charW*len(legend))
	height := top + plotH + bottom
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	maxPct := 150.0
	for _, b := range bars {
		maxPct = max(maxPct, 100*b.BudgetFraction*1.1)
	}
	y := func(pct float64) int { return top + plotH - int(pct/maxPct*plotH) }
	text := func(x, y int, s string, c color.Color) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	fill := func(r image.Rectangle, c color.Color) {
		draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
	}
	text(10, 20, title, color.Black)
	fill(image.Rect(left-1, top, left, top+plotH), color.Black)
	fill(image.Rect(left, top+plotH, width-20, top+plotH+1), color.Black)
	for pct := 0.0; pct <= maxPct; pct += 50 {
		text(5, y(pct)+4, fmt.Sprintf("%4.0f%%", pct), color.Gray{Y: 80})
		fill(image.Rect(left, y(pct), width-20, y(pct)+1), color.Gray{Y: 225})
	}
	for i, b := range bars {
		x := left + gap + i*(barW+gap)
		c := color.RGBA{R: 60, G: 110, B: 200, A: 255}
		if b.Workers > 1 {
			c = color.RGBA{R: 230, G: 140, B: 40, A: 255}
		}
		fill(image.Rect(x, y(100*b.BudgetFraction), x+barW, top+plotH), c)
		// Vertical label, one character per line is unreadable; write it
		// rotated by stacking short lines below the axis.
		for j, line := range []string{abbrev(b.Job), short(b.Size), fmt.Sprintf("%dw", b.Workers), fmt.Sprintf("%.0f%%", 100*b.BudgetFraction)} {
			text(x-4, top+plotH+16+j*14, line, color.Black)
		}
	}
	red := color.RGBA{R: 210, G: 30, B: 30, A: 255}
	fill(image.Rect(left, y(100)-1, width-20, y(100)+1), red)
	text(width-110, y(100)-6, "budget 100%", red)
	text(left, height-20, legend, color.Gray{Y: 60})
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

func abbrev(job string) string {
	switch job {
	case "sync-leads":
		return "sync"
	case "import-leads":
		return "imp"
	case "engagement-metrics":
		return "eng"
	case "interest-metrics":
		return "int"
	case "trigger-campaign":
		return "trg"
	}
	return job[:min(4, len(job))]
}

func short(n int) string {
	if n >= 1000 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
