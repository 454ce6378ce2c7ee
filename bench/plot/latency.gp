# S1 one-way latency (p50) against payload size, one line per transport, the
# floor as a dashed line; one PNG per receive mode, two panels: the receiver
# touching the first and last cache line, and reading every byte.
#   gnuplot -e "datadir='DIR'; outdir='DIR'; prefix='peers'" latency.gp
# Input: DIR/latency_<mode>_<ends|all>.dat from bench_report --plot-data.
load sprintf("%s/style.gnuplot", system("dirname ".ARG0))

set logscale xy
set xtics ("8 B" 8, "1 KiB" 1024, "64 KiB" 65536, "1 MiB" 1048576, "64 MiB" 67108864)
eval "set ytics ".nsTics
set xlabel "payload"
set ylabel "one-way latency, p50"
set key top left reverse Left samplen 3

do for [mode in "busy blocking"] {
  how = (mode eq "busy") ? "busy-polling receiver" : "blocking receiver"
  set output sprintf("%s/%s-latency-%s.png", outdir, prefix, mode)
  set multiplot layout 1,2 title sprintf("S1 one-way latency (round trip / 2), %s", how) font ",13"
  do for [read in "ends all"] {
    f = sprintf("%s/latency_%s_%s.dat", datadir, mode, read)
    set title (read eq "ends") ? "receiver reads the first and last cache line" : "receiver reads every byte (8 B: same as left)"
    plot f using 1:2 with lines dt 2 lw 2 lc rgb "#555555" title columnheader(2), \
         for [i=3:*] f using 1:i with linespoints lt (i-2) title columnheader(i)
  }
  unset multiplot
}
