# S3 fan-out to 4 receivers (blocking; the receivers share one core):
# publish-to-last-receiver latency (left) and messages published per second
# (right), clustered bars per payload size.
#   gnuplot -e "datadir='DIR'; outdir='DIR'; prefix='peers'" fanout.gp
# Input: DIR/fanout_latency.dat and DIR/fanout_throughput.dat.
load sprintf("%s/style.gnuplot", system("dirname ".ARG0))

set output sprintf("%s/%s-fanout.png", outdir, prefix)
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set key top left samplen 2
set xlabel "payload"

set multiplot layout 1,2 title "S3 fan-out, 1 publisher to 4 blocking receivers on one core" font ",13"
set title "publish until the 4th receiver has the message, p50"
set ylabel "latency"
eval "set ytics ".nsTics
plot for [i=2:*] sprintf("%s/fanout_latency.dat", datadir) using i:xtic(1) lt (i-1) title columnheader(i)
set title "messages published per second (each reaches all 4)"
set ylabel "messages/s"
eval "set ytics ".rateTics
set key top right
plot for [i=2:*] sprintf("%s/fanout_throughput.dat", datadir) using i:xtic(1) lt (i-1) title columnheader(i)
unset multiplot
