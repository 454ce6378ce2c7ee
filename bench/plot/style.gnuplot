# Shared look of the benchmark plots; loaded by the other scripts.
# Transports keep their linetype (colour) in every plot: the data files list
# them in the same order, sluice first when present.
set encoding utf8
set terminal pngcairo size 1400,620 font "sans,11" noenhanced
set datafile missing "NaN"
set grid ytics mytics lc rgb "#dddddd"
set border 3
set tics nomirror
set linetype 1 lc rgb "#c0392b" lw 2.5 pt 7 ps 1.1
set linetype 2 lc rgb "#2471a3" lw 2 pt 5 ps 1.0
set linetype 3 lc rgb "#239b56" lw 2 pt 9 ps 1.2
set linetype 4 lc rgb "#b9770e" lw 2 pt 11 ps 1.2
set linetype 5 lc rgb "#7d3c98" lw 2 pt 13 ps 1.2
set linetype 6 lc rgb "#17a589" lw 2 pt 3 ps 1.2
set linetype 7 lc rgb "#5d6d7e" lw 2 pt 6 ps 1.2
set linetype 8 lc rgb "#a04000" lw 2 pt 4 ps 1.2
nsTics = '("1 ns" 1, "10 ns" 10, "100 ns" 100, "1 µs" 1e3, "10 µs" 1e4, "100 µs" 1e5, "1 ms" 1e6, "10 ms" 1e7, "100 ms" 1e8, "1 s" 1e9)'
rateTics = '("1" 1, "10" 10, "100" 100, "1 k" 1e3, "10 k" 1e4, "100 k" 1e5, "1 M" 1e6, "10 M" 1e7, "100 M" 1e8, "1 G" 1e9)'
