# bench/rpc/plot.gp: bar charts of bench_rpc's results.
#   gnuplot -e "datadir='DIR'; outdir='OUT'" bench/rpc/plot.gp
# DIR holds unary.dat, stream.dat and results.dat (bench_rpc --plot-data DIR).
set terminal pngcairo size 1000,520 font ",10"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -20 scale 0
set output outdir."/rpc-unary.png"
set title "vgi-rpc unary round trip, p50 (lower is better; log scale)"
set ylabel "microseconds"
set logscale y
plot datadir."/unary.dat" using 2:xtic(1) title "unix", "" using 3 title "tcp"
unset logscale y
set output outdir."/rpc-stream.png"
set title "stream of 1 MiB batches (higher is better)"
set ylabel "GB/s"
plot datadir."/stream.dat" using 2:xtic(1) title "unix", "" using 3 title "tcp"
# results.dat: size in MiB, p50 in ms inline over a Unix socket, p50 through
# vgi-rpc's shared-memory side channel.
set output outdir."/rpc-results.png"
set style data linespoints
set title "time until the client holds a unary result (p50, lower is better)"
set xlabel "result size (MiB)"
set ylabel "milliseconds"
set logscale xy
set xtics (1, 64, 1024) rotate by 0
plot datadir."/results.dat" using 1:2 title "unix socket (inline)" lw 2, \
     "" using 1:3 title "vgi-rpc shared-memory side channel" lw 2
