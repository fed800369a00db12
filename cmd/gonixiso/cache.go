package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/gonixiso/gonixiso/cache"
)

func cacheCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "cache", Usage: "the cache folder (default: $XDG_CACHE_HOME/gonixiso)"}
	open := func(c *cli.Context) (*cache.Cache, error) {
		return cache.Open(c.String("cache"), nil)
	}
	return &cli.Command{
		Name:  "cache",
		Usage: "look after the cache of compressed store paths",
		Subcommands: []*cli.Command{
			{
				Name:  "info",
				Usage: "print the cache's folder, entries and size",
				Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					cc, err := open(c)
					if err != nil {
						return err
					}
					entries, err := cc.Entries()
					if err != nil {
						return err
					}
					var total int64
					for _, e := range entries {
						total += e.Size
					}
					fmt.Fprintf(c.App.Writer, "%s: %d entries, %s\n", cc.Dir(), len(entries), humanBytes(total))
					return nil
				},
			},
			{
				Name:      "gc",
				Usage:     "remove least recently used entries until the cache fits a size",
				UsageText: "gonixiso cache gc --max-size 10G",
				Flags: []cli.Flag{dirFlag,
					&cli.StringFlag{Name: "max-size", Usage: "the size to keep at most: bytes, or with K, M, G (0 empties the cache)"}},
				Action: func(c *cli.Context) error {
					if !c.IsSet("max-size") {
						return &exitError{exitFailure, errors.New("cache gc needs --max-size")}
					}
					max, err := parseBytes(c.String("max-size"))
					if err != nil {
						return &exitError{exitFailure, fmt.Errorf("--max-size: %w", err)}
					}
					cc, err := open(c)
					if err != nil {
						return err
					}
					n, freed, err := cc.GC(max)
					if err != nil {
						return err
					}
					if !globalBool(c, "quiet") {
						fmt.Fprintf(c.App.Writer, "removed %d entries, %s\n", n, humanBytes(freed))
					}
					return nil
				},
			},
		},
	}
}

// parseBytes reads a byte count: "0", "512M", "10G", "123456", at most 2^62.
func parseBytes(s string) (int64, error) {
	num, shift := s, 0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K', 'k':
			shift = 10
		case 'M', 'm':
			shift = 20
		case 'G', 'g':
			shift = 30
		case 'T', 't':
			shift = 40
		}
		if shift != 0 {
			num = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return v << shift, nil
}
