# S2 streaming throughput: messages/s (top) and GB/s (bottom), busy-polling
# (left) and blocking (right) receivers, clustered bars per payload size.
#   gnuplot -e "datadir='DIR'; outdir='DIR'; prefix='peers'" throughput.gp
# Input: DIR/throughput_<mode>.dat and throughput_<mode>_gbs.dat.
load sprintf("%s/style.gnuplot", system("dirname ".ARG0))

set terminal pngcairo size 1400,900
set output sprintf("%s/%s-throughput.png", outdir, prefix)
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set key samplen 2
set xlabel "payload"

set multiplot layout 2,2 title "S2 one-way streaming throughput, lossless, every byte written and read" font ",13"
do for [what in "rate gbs"] {
  do for [mode in "busy blocking"] {
    f = sprintf("%s/throughput_%s%s.dat", datadir, mode, (what eq "rate") ? "" : "_gbs")
    how = (mode eq "busy") ? "busy-polling receiver" : "blocking receiver"
    if (what eq "rate") {
      set title sprintf("messages per second, %s", how)
      set ylabel "messages/s"
      eval "set ytics ".rateTics
      set key top right   # small payloads reach the most messages/s
    } else {
      set title sprintf("GB/s, %s", how)
      set ylabel "GB/s"
      set ytics auto
      set key top left    # large payloads reach the most GB/s
    }
    plot for [i=2:*] f using i:xtic(1) lt (i-1) title columnheader(i)
  }
}
unset multiplot
