module sleep-tests/rollout-app

go 1.19
