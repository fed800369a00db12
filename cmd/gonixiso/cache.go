package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/gonixiso/gonixiso"
)

func cacheCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "cache", Usage: "the cache folder (default: $XDG_CACHE_HOME/gonixiso)"}
	open := func(c *cli.Context) (*gonixiso.Cache, error) {
		return gonixiso.OpenCache(c.String("cache"), nil)
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
					cache, err := open(c)
					if err != nil {
						return err
					}
					entries, err := cache.Entries()
					if err != nil {
						return err
					}
					var total int64
					for _, e := range entries {
						total += e.Size
					}
					fmt.Fprintf(c.App.Writer, "%s: %d entries, %s\n", cache.Dir(), len(entries), humanBytes(total))
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
						return &exitError{2, errors.New("cache gc needs --max-size")}
					}
					max, err := parseBytes(c.String("max-size"))
					if err != nil {
						return &exitError{2, fmt.Errorf("--max-size: %w", err)}
					}
					cache, err := open(c)
					if err != nil {
						return err
					}
					n, freed, err := cache.GC(max)
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

// parseBytes reads "0", "512M", "10G", "123456".
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	var v int64
	if _, err := fmt.Sscan(s, &v); err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return v * mult, nil
}
