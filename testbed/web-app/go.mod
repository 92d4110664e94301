module github.com/sleep-developers/sleep/testbed/web-app

go 1.19
