package boot

import (
	"slices"
	"strings"
)

// The menus' parsers read isolinux and GRUB configurations back: those Render writes (a
// render → parse round trip is tested) and those of other NixOS ISOs. gonixiso inspect lists
// their entries, and the boot test harness finds the entry of a specialisation with them.

// MenuEntry is a boot menu entry.
type MenuEntry struct {
	Menu []string `json:"menu,omitempty"` // the submenus it is in, outermost first
	// Position is the entry's place among the items its menu shows, entries and submenus
	// alike, from 0: how many times to press the down arrow to reach it. Hidden entries (GRUB's
	// hiddenentry, isolinux's MENU HIDE) are not listed.
	Position int    `json:"position"`
	Label    string `json:"label,omitempty"` // isolinux's LABEL, GRUB's --id
	Title    string `json:"title"`
	Kernel   string `json:"kernel,omitempty"`
	Initrd   string `json:"initrd,omitempty"`
	Params   string `json:"params,omitempty"` // the kernel command line, as written
}

// ParseIsolinux returns the entries of an isolinux (syslinux) configuration: each LABEL with
// its MENU LABEL, LINUX or KERNEL, INITRD and APPEND, inside the MENU BEGIN ... MENU END blocks
// that hold it. Entries with MENU HIDE are left out.
func ParseIsolinux(cfg []byte) []MenuEntry {
	var (
		entries []MenuEntry
		menu    []string
		items   = []int{0} // items shown so far at each menu level, outermost first
		cur     *MenuEntry
		hidden  bool // cur has MENU HIDE
	)
	end := func() {
		if cur != nil && !hidden {
			cur.Position = items[len(items)-1]
			items[len(items)-1]++
			entries = append(entries, *cur)
		}
		cur, hidden = nil, false
	}
	for _, line := range strings.Split(string(cfg), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, rest := cutField(line)
		switch strings.ToUpper(key) {
		case "LABEL":
			end()
			cur = &MenuEntry{Menu: slices.Clone(menu), Label: rest, Title: rest}
		case "MENU":
			sub, arg := cutField(rest)
			switch strings.ToUpper(sub) {
			case "BEGIN":
				end()
				items[len(items)-1]++ // the submenu is an item of its menu
				menu = append(menu, arg)
				items = append(items, 0)
			case "END":
				end()
				if len(menu) > 0 {
					menu = menu[:len(menu)-1]
					items = items[:len(items)-1]
				}
			case "LABEL":
				if cur != nil {
					cur.Title = arg
				}
			case "HIDE":
				hidden = cur != nil
			}
		case "LINUX", "KERNEL":
			if cur != nil {
				cur.Kernel = rest
			}
		case "INITRD":
			if cur != nil {
				cur.Initrd = rest
			}
		case "APPEND":
			if cur != nil {
				cur.Params = rest
			}
		}
	}
	end()
	return entries
}

// cutField splits a line at its first run of blanks.
func cutField(s string) (first, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// ParseGrub returns the menu entries of a GRUB configuration: each menuentry with its title,
// --id, and linux and initrd commands, inside the submenus that hold it. Other blocks ({...}
// of hiddenentry, functions) are skipped, and are not items of their menu.
func ParseGrub(cfg []byte) []MenuEntry {
	type frame struct {
		kind  string // "menuentry", "submenu" or "" for another block
		title string
		items int // a submenu's items shown so far
	}
	var (
		entries []MenuEntry
		stack   []frame
		top     int // the top level's items shown so far
		cur     *MenuEntry
	)
	// next counts an item of the innermost submenu (or the top level) and returns its position.
	next := func() int {
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].kind == "submenu" {
				stack[i].items++
				return stack[i].items - 1
			}
		}
		top++
		return top - 1
	}
	menu := func() []string {
		var m []string
		for _, f := range stack {
			if f.kind == "submenu" {
				m = append(m, f.title)
			}
		}
		return m
	}
	for _, line := range strings.Split(string(cfg), "\n") {
		words := splitGrubWords(line)
		if len(words) == 0 {
			continue
		}
		opens := words[len(words)-1] == "{"
		switch {
		case words[0] == "}":
			if len(stack) > 0 {
				if stack[len(stack)-1].kind == "menuentry" && cur != nil {
					entries = append(entries, *cur)
					cur = nil
				}
				stack = stack[:len(stack)-1]
			}
		case (words[0] == "menuentry" || words[0] == "submenu") && opens:
			title, id := "", ""
			args := words[1 : len(words)-1]
			for i := 0; i < len(args); i++ {
				switch {
				case args[i] == "--id" && i+1 < len(args):
					id = args[i+1]
					i++
				case strings.HasPrefix(args[i], "--id="):
					id = strings.TrimPrefix(args[i], "--id=")
				case (args[i] == "--class" || args[i] == "--users" || args[i] == "--hotkey") && i+1 < len(args):
					i++
				case strings.HasPrefix(args[i], "--"):
				case title == "":
					title = args[i]
				}
			}
			pos := next()
			if words[0] == "menuentry" {
				cur = &MenuEntry{Menu: menu(), Position: pos, Label: id, Title: title}
			}
			stack = append(stack, frame{kind: words[0], title: title})
		case opens:
			stack = append(stack, frame{})
		case cur != nil && len(stack) > 0 && stack[len(stack)-1].kind == "menuentry":
			switch words[0] {
			case "linux", "linuxefi", "linux16":
				if len(words) > 1 {
					cur.Kernel = words[1]
					_, after, _ := strings.Cut(strings.TrimSpace(line), words[1])
					cur.Params = strings.TrimSpace(after)
				}
			case "initrd", "initrdefi", "initrd16":
				cur.Initrd = strings.Join(words[1:], " ")
			}
		}
	}
	return entries
}

// splitGrubWords splits a line of a GRUB script into words, as GRUB's lexer does for the commands a
// menu uses: blanks separate words, '...' quotes literally, "..." quotes with backslash escapes,
// a backslash escapes the next character, and # starts a comment at the beginning of a word.
func splitGrubWords(line string) []string {
	var (
		words []string
		w     strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case c == '#' && !in:
			return words
		case c == '\'':
			in = true
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			in = true
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("$\"\\\n", line[i+1]) >= 0 {
					i++
				}
				w.WriteByte(line[i])
			}
		case c == '\\' && i+1 < len(line):
			in = true
			i++
			w.WriteByte(line[i])
		default:
			in = true
			w.WriteByte(c)
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}
