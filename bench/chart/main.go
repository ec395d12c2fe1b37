// Command chart draws the connection sweep of bench/compare.sh (SWEEP=…):
// tokens per second and p99 latency of the client_credentials grant
// against the number of connections, one line per target, as one SVG.
//
//	go run ./bench/chart -o docs/performance-sweep.svg report.json...
//
// Each argument is an authbench JSON report (-json-out); the target is
// its "target" label and the x value its "concurrency". The chart lives
// here, not in authbench or the server, so that gonum/plot stays out of
// both binaries.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// report is the part of an authbench JSON report that the chart reads.
type report struct {
	Target      string `json:"target"`
	Concurrency int    `json:"concurrency"`
	Scenarios   []struct {
		Name     string  `json:"name"`
		OK       int     `json:"ok"`
		OKPerSec float64 `json:"ok_per_sec"`
		Latency  struct {
			P99 time.Duration `json:"p99_ns"`
		} `json:"latency_ns"`
	} `json:"scenarios"`
}

// point is one target at one concurrency.
type point struct {
	conns    int
	tokens   float64 // per second
	p99Milli float64
}

func main() {
	out := flag.String("o", "performance-sweep.svg", "SVG file to write")
	scenario := flag.String("scenario", "client_credentials", "the authbench scenario to draw")
	title := flag.String("title", "", "a line under the chart's title (e.g. the machine and the date)")
	flag.Parse()
	series, order, err := load(flag.Args(), *scenario)
	if err == nil {
		err = drawChart(*out, *title, series, order)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

// load reads the reports; order is the targets in their first appearance.
// Two reports of one target at one concurrency (rounds) keep the median
// of tokens/s with the p99 of that run.
func load(files []string, scenario string) (map[string][]point, []string, error) {
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no report files given")
	}
	runs := map[string]map[int][]point{}
	var order []string
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, nil, err
		}
		var r report
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, s := range r.Scenarios {
			if s.Name != scenario || s.OK == 0 {
				continue
			}
			if runs[r.Target] == nil {
				runs[r.Target] = map[int][]point{}
				order = append(order, r.Target)
			}
			p := point{conns: r.Concurrency, tokens: s.OKPerSec, p99Milli: float64(s.Latency.P99) / 1e6}
			runs[r.Target][r.Concurrency] = append(runs[r.Target][r.Concurrency], p)
		}
	}
	series := map[string][]point{}
	for target, byConns := range runs {
		for _, ps := range byConns {
			slices.SortFunc(ps, func(a, b point) int { return cmp.Compare(a.tokens, b.tokens) })
			series[target] = append(series[target], ps[len(ps)/2])
		}
		slices.SortFunc(series[target], func(a, b point) int { return cmp.Compare(a.conns, b.conns) })
	}
	return series, order, nil
}

// drawChart writes the two panels, tokens/s above p99, sharing the x axis.
func drawChart(out, subtitle string, series map[string][]point, order []string) error {
	rate, p99 := plot.New(), plot.New()
	rate.Title.Text = "client_credentials tokens per second (RS256)"
	if subtitle != "" {
		rate.Title.Text += "\n" + subtitle
	}
	rate.Y.Label.Text = "tokens/s"
	p99.Title.Text = "p99 latency"
	p99.Y.Label.Text = "ms"
	for _, p := range []*plot.Plot{rate, p99} {
		p.X.Label.Text = "connections"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = powersOfTwo{}
		p.Y.Min = 0
		p.Legend.Top, p.Legend.Left = true, true
		p.Add(plotter.NewGrid())
	}
	for i, target := range order {
		ps := series[target]
		rates, lat := make(plotter.XYs, len(ps)), make(plotter.XYs, len(ps))
		for j, pt := range ps {
			rates[j] = plotter.XY{X: float64(pt.conns), Y: pt.tokens}
			lat[j] = plotter.XY{X: float64(pt.conns), Y: pt.p99Milli}
		}
		for _, panel := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{rate, rates}, {p99, lat}} {
			l, s, err := plotter.NewLinePoints(panel.xys)
			if err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
			l.Color, s.Color = palette(i), palette(i)
			s.Shape = draw.CircleGlyph{}
			panel.p.Add(l, s)
			panel.p.Legend.Add(target, l, s)
		}
	}
	const w, h = 9 * vg.Inch, 5 * vg.Inch
	c := vgsvg.New(w, 2*h)
	dc := draw.New(c)
	top, bottom := dc, dc
	top.Min.Y += h
	bottom.Max.Y -= h
	rate.Draw(top)
	p99.Draw(bottom)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// powersOfTwo marks 1, 2, 4, … on the logarithmic connections axis.
type powersOfTwo struct{}

func (powersOfTwo) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for v := 1.0; v <= hi*1.01; v *= 2 {
		if v >= lo*0.99 {
			ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprint(v)})
		}
	}
	return ts
}

func palette(i int) color.Color {
	colors := []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
		{0x94, 0x67, 0xbd, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
		{0x7f, 0x7f, 0x7f, 0xff},
	}
	return colors[i%len(colors)]
}
