CREATE TABLE `status_snapshot` (
	`site_id` integer NOT NULL,
	`target` text NOT NULL,
	`last_check_id` integer,
	`last_at` integer,
	`last_outcome` text,
	`last_status_code` integer,
	`last_error_message` text,
	`last_addresses` text,
	`last_address` text,
	`last_total_ms` integer,
	`last_ttfb_ms` integer,
	`base_through` integer NOT NULL,
	`base_24h_count` integer NOT NULL,
	`base_24h_ok` integer NOT NULL,
	`base_7d_count` integer NOT NULL,
	`base_7d_ok` integer NOT NULL,
	`base_30d_count` integer NOT NULL,
	`base_30d_ok` integer NOT NULL,
	`base_24h_hist` text NOT NULL,
	`live` text NOT NULL,
	`uptime_24h` real,
	`uptime_7d` real,
	`uptime_30d` real,
	`p50_ms_24h` integer,
	`p95_ms_24h` integer,
	PRIMARY KEY(`site_id`, `target`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_rollups_minute` (
	`site_id` integer NOT NULL,
	`target` text NOT NULL,
	`bucket` integer NOT NULL,
	`count` integer NOT NULL,
	`ok_count` integer NOT NULL,
	`failures` text NOT NULL,
	`latency_sum_ms` integer NOT NULL,
	`latency_hist` text NOT NULL,
	PRIMARY KEY(`bucket`, `site_id`, `target`)
);
--> statement-breakpoint
INSERT INTO `__new_rollups_minute`("site_id", "target", "bucket", "count", "ok_count", "failures", "latency_sum_ms", "latency_hist") SELECT "site_id", "target", "bucket", "count", "ok_count", "failures", "latency_sum_ms", "latency_hist" FROM `rollups_minute`;--> statement-breakpoint
DROP TABLE `rollups_minute`;--> statement-breakpoint
ALTER TABLE `__new_rollups_minute` RENAME TO `rollups_minute`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
DROP INDEX `checks_incident_idx`;--> statement-breakpoint
CREATE INDEX `checks_incident_idx` ON `checks` (`incident_id`) WHERE "checks"."incident_id" IS NOT NULL;