module sleep-bench/go-sleep

go 1.19
