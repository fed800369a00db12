package liveiso

// This file lays out a treemap: rectangles of areas proportional to weights, filling a
// rectangle, as squarified treemaps do (Bruls, Huizing and van Wijk, "Squarified Treemaps",
// 2000): items in decreasing order fill rows along the shorter side of what is left, a row
// growing while that makes its worst aspect ratio better. The report draws it as SVG, so the
// layout is Go's and the page needs no script to show it.

// tile is an item's rectangle: the index of its weight, and where it lies.
type tile struct {
	I          int
	X, Y, W, H float64
}

// squarify lays out weights (positive, in decreasing order) in the rectangle (x, y, w, h).
func squarify(weights []float64, x, y, w, h float64) []tile {
	var total float64
	for _, v := range weights {
		total += v
	}
	if total <= 0 || w <= 0 || h <= 0 {
		return nil
	}
	areas := make([]float64, len(weights))
	for i, v := range weights {
		areas[i] = v * w * h / total
	}
	// worst is the largest aspect ratio of a row of areas summing to sum, the largest hi and
	// the smallest lo, laid along a side of length side.
	worst := func(sum, hi, lo, side float64) float64 {
		s2, side2 := sum*sum, side*side
		return max(side2*hi/s2, s2/(side2*lo))
	}
	out := make([]tile, 0, len(weights))
	for i := 0; i < len(areas); {
		side := min(w, h)
		j, sum := i+1, areas[i]
		for j < len(areas) && worst(sum+areas[j], areas[i], areas[j], side) <= worst(sum, areas[i], areas[j-1], side) {
			sum += areas[j]
			j++
		}
		if w >= h { // a column at the left
			cw := sum / h
			yy := y
			for k := i; k < j; k++ {
				th := areas[k] / cw
				out = append(out, tile{I: k, X: x, Y: yy, W: cw, H: th})
				yy += th
			}
			x, w = x+cw, w-cw
		} else { // a row at the top
			rh := sum / w
			xx := x
			for k := i; k < j; k++ {
				tw := areas[k] / rh
				out = append(out, tile{I: k, X: xx, Y: y, W: tw, H: rh})
				xx += tw
			}
			y, h = y+rh, h-rh
		}
		i = j
	}
	return out
}
