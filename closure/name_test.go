package closure

import "testing"

func TestParseName(t *testing.T) {
	for base, want := range map[string]Name{
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz0-hello-2.12":            {Name: "hello", Version: "2.12", Output: ""},
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz0-hello-2.12.1":          {Name: "hello", Version: "2.12.1", Output: ""},
		"abc-openssh-server-9.2p1-2":                             {Name: "openssh-server", Version: "9.2p1-2", Output: ""},
		"abc-openssh-server-9.2p1-2-edit1":                       {Name: "openssh-server", Version: "9.2p1-2-edit1", Output: ""},
		"abc-glibc-2.39-52-dev":                                  {Name: "glibc", Version: "2.39-52", Output: "dev"},
		"abc-gcc-13.2.0-lib64":                                   {Name: "gcc", Version: "13.2.0", Output: "lib64"},
		"abc-etc":                                                {Name: "etc", Version: "", Output: ""},
		"abc-system-path":                                        {Name: "system", Version: "", Output: "path"},
		"abc-nixos-system-gonixiso-test-25.11.20261125.gonixiso": {Name: "nixos-system-gonixiso-test", Version: "25.11.20261125.gonixiso", Output: ""},
		"abc-python3.11-numpy-1.26.4":                            {Name: "python3.11-numpy", Version: "1.26.4", Output: ""},
		"abc-firmware-unstable":                                  {Name: "firmware", Version: "", Output: "unstable"}, // as nix: ambiguous
		"abc-perl5.38.2-URI-5.21":                                {Name: "perl5.38.2-URI", Version: "5.21", Output: ""},
		"abc-source":                                             {Name: "source", Version: "", Output: ""},
		"abc-linux-6.6.30-modules-shrunk":                        {Name: "linux", Version: "6.6.30-modules", Output: "shrunk"},
	} {
		if got := ParseName(base); got != want {
			t.Errorf("ParseName(%q) = %+v, want %+v", base, got, want)
		}
	}
}
