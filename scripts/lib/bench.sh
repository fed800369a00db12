# shellcheck shell=bash
# Shared by scripts/bench*: timing commands with /usr/bin/time -v and reporting medians and
# ratios. Source it after setting $work (a scratch folder).

# measure NAME OUT CMD...: runs CMD once under /usr/bin/time -v, with OUT removed before and
# after, and appends "NAME wall cpu rss-KiB size-of-OUT" to $work/results.
measure() {
	local name=$1 out=$2
	shift 2
	rm -f "$out"
	sync
	/usr/bin/time -v -o "$work/time" "$@" >"$work/stdout" 2>"$work/stderr" || {
		cat "$work/stderr" "$work/time" >&2
		echo "bench: $name failed" >&2
		exit 1
	}
	local wall cpu rss size
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time")
	cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$work/time")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
	size=$(stat -c %s "$out")
	echo "$name|$wall|$cpu|$rss|$size" >>"$work/results"
	printf '  %-44s wall %8.1f s  cpu %8.1f s  rss %7.0f MiB  size %12d\n' "$name" "$wall" "$cpu" "$((rss / 1024))" "$size" >&2
	if [ -z "${keep_output:-}" ]; then rm -f "$out"; fi
}

# report [ANCHOR-PREFIX OURS-PREFIX]: the medians of every name in $work/results, then for each
# name starting with OURS-PREFIX the ratios to the name with ANCHOR-PREFIX instead.
report() {
	awk -F'|' -v anchor="${1:-}" -v ours="${2:-}" '
	function median(arr, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
		return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
	}
	{
		k = $1; n[k]++; wall[k, n[k]] = $2; cpu[k, n[k]] = $3; rss[k, n[k]] = $4; size[k, n[k]] = $5
		if (!(k in seen)) { seen[k] = 1; order[++count] = k }
	}
	END {
		printf "\n%-52s %5s %9s %9s %9s %14s\n", "median", "runs", "wall s", "cpu s", "rss MiB", "size"
		for (i = 1; i <= count; i++) {
			k = order[i]
			for (r = 1; r <= n[k]; r++) { w[r] = wall[k, r]; c[r] = cpu[k, r]; m[r] = rss[k, r]; s[r] = size[k, r] }
			W[k] = median(w, n[k]); C[k] = median(c, n[k]); M[k] = median(m, n[k]); S[k] = median(s, n[k])
			printf "%-52s %5d %9.1f %9.1f %9.0f %14d\n", k, n[k], W[k], C[k], M[k] / 1024, S[k]
		}
		if (anchor == "") exit
		printf "\n%-58s %9s %9s %9s %14s\n", "ratio " ours " / " anchor, "wall", "cpu", "rss", "size"
		for (i = 1; i <= count; i++) {
			k = order[i]
			if (index(k, ours) != 1) continue
			a = anchor substr(k, length(ours) + 1)
			if (!(a in W)) continue
			printf "%-58s %9.3f %9.3f %9.3f %14.4f\n", substr(k, length(ours) + 2), W[k] / W[a], C[k] / C[a], M[k] / M[a], S[k] / S[a]
		}
	}' "$work/results"
}
