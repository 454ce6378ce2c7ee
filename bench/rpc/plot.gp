# bench/rpc/plot.gp: bar charts of bench_rpc's results.
#   gnuplot -e "datadir='DIR'; outdir='OUT'" bench/rpc/plot.gp
# DIR holds unary.dat and stream.dat (bench_rpc --plot-data DIR).
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
