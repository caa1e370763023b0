-- The outreach scheduler keeps its jobs in memory now (see outreach/scheduler.py): drop the table
-- APScheduler's SQLAlchemy job store created outside the migrations.
DROP TABLE IF EXISTS outreach_scheduler_jobs;
