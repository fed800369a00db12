package liveiso

import "github.com/gonixiso/gonixiso/squash"

// Limits bound the work Inspect, Diff and Manifest do on an image's SquashFS (see
// squash.Limits), so that a small crafted image cannot make them run for hours or take
// gigabytes: past a limit they fail with an error that names the image, the path and the limit
// (and wraps squash.ErrLimit). Each function takes at most one Limits; without one, or for its
// zero fields, the limits are squash.DefaultLimits of the SquashFS's size.
type Limits = squash.Limits

// limit sets the limits given to Inspect, Diff or Manifest on the image's SquashFS.
func (im *isoImage) limit(limits []Limits) {
	if im.sq != nil && len(limits) > 0 {
		im.sq.SetLimits(limits[0])
	}
}
