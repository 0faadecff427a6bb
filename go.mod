module github.com/webhookd/webhookd

go 1.26.8
